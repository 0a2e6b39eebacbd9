import Foundation

extension CompareBook {
    /// Counts above this are not believable (2^53: where a Double stops holding every
    /// integer) and would let a sum overflow; times must be real dates.
    static let maxCount = 1 << 53

    /// Why a book read from disk cannot be used as is, or nil when it can: every count in
    /// 0…2^53, every time finite and between 2001 and a day from `now`, every histogram the
    /// right size, every set within its bound. A file that decodes but fails this is treated
    /// as damaged (set aside, start empty): its numbers would otherwise reach arithmetic and
    /// conversions that trap (a span of 1e300 seconds, counts near Int.max).
    public func problem(now: Date) -> String? {
        let latest = now.timeIntervalSince1970 + 86_400
        func time(_ t: Double?) -> Bool { t.map { $0.isFinite && $0 >= 978_307_200 && $0 <= latest } ?? true }
        func count(_ n: Int) -> Bool { n >= 0 && n <= Self.maxCount }
        func counts(_ map: [String: Int]) -> Bool { map.values.allSatisfy(count) }
        if routes.count > 10_000 { return "\(routes.count) routes" }
        // Each count in range is not enough: the reports add them up (per route, over
        // routes), so the book's total must stay in range too — else a crafted file makes
        // `compare` and /status.json overflow.
        var total = 0
        func add(_ n: Int) -> Bool {
            let (sum, overflow) = total.addingReportingOverflow(n)
            total = sum
            return !overflow && total <= Self.maxCount
        }
        func addAll(_ map: [String: Int]) -> Bool { map.values.allSatisfy(add) }
        for (name, route) in routes {
            guard time(route.firstTime), time(route.lastTime) else { return "route \(name): a time out of range" }
            if let first = route.firstTime, let last = route.lastTime, first > last { return "route \(name): first pair after the latest" }
            guard count(route.leftOut ?? 0), add(route.leftOut ?? 0) else { return "route \(name): a count out of range" }
            guard route.endpoints.count <= RouteBook.maxEndpoints + 1 else { return "route \(name): \(route.endpoints.count) endpoints" }
            for (endpoint, book) in route.endpoints {
                let place = "route \(name), \(endpoint)"
                guard count(book.pairs), count(book.noiseSamples), count(book.overflowPairs), count(book.noiseAtIngest),
                      counts(book.kindCounts), counts(book.keyCounts), counts(book.noiseKeyCounts),
                      counts(book.signatures), counts(book.hashOnly) else { return "\(place): a count out of range" }
                guard add(book.pairs), add(book.noiseSamples), add(book.overflowPairs), add(book.noiseAtIngest),
                      addAll(book.kindCounts), addAll(book.keyCounts), addAll(book.noiseKeyCounts),
                      addAll(book.signatures), addAll(book.hashOnly)
                else { return "\(place): the counts add up to more than \(Self.maxCount)" }
                guard book.keyCounts.count <= EndpointBook.maxKeys + 16, book.noiseKeyCounts.count <= EndpointBook.maxKeys + 16,
                      book.signatures.count <= EndpointBook.maxSignatures, book.examples.count <= EndpointBook.maxExamples
                else { return "\(place): more entries than kept" }
                for histogram in [book.primaryLatency, book.otherLatency] {
                    guard histogram.counts.count == LatencyHistogram.boundsMicros.count + 1, histogram.counts.allSatisfy(count)
                    else { return "\(place): a latency histogram out of shape" }
                }
                for example in book.examples {
                    guard time(example.time), (0...999).contains(example.primaryStatus), (0...999).contains(example.otherStatus)
                    else { return "\(place): an example out of range" }
                }
            }
        }
        return nil
    }
}
