import SwitchyardCompare
import SwitchyardRouting

/// The comparison's Prometheus series, for routes that have compared anything (a reset
/// starts them again from 0, which Prometheus reads as a counter reset):
/// - `switchyard_compare_pairs_total{route,kind}`: pairs compared, kind `mirror`
///   (primary vs mirror target) or `noise` (primary vs primary);
/// - `switchyard_compare_mismatches_total{route,kind}`: mirror pairs with at least one
///   difference of that kind (status, header, body, json, failure), noise included;
/// - `switchyard_compare_noise_total{route}`: mirror pairs whose every difference was
///   classed as noise when they were compared (`NoiseRule`);
/// - `switchyard_compare_dropped_total`: pairs dropped because the comparer's bounded
///   backlog was full (`CompareInbox`).
enum CompareMetrics {
    static func render(service: AdminService?, table: RouteTable) -> String {
        guard let service else { return "" }
        let book = service.compareStore.book
        let routes = table.routes.filter { $0.mode == .http && book.routes[$0.name] != nil }.map(\.name)
        var out = PrometheusText()
        out.family("switchyard_compare_pairs_total", "counter", "Mirrored pairs compared, by route and kind (mirror: primary vs mirror target; noise: primary vs primary).")
        for route in routes {
            let endpoints = book.routes[route]!.endpoints.values
            out.sample("switchyard_compare_pairs_total", [("route", route), ("kind", "mirror")], Double(endpoints.reduce(0) { $0 + $1.pairs }))
            out.sample("switchyard_compare_pairs_total", [("route", route), ("kind", "noise")], Double(endpoints.reduce(0) { $0 + $1.noiseSamples }))
        }
        out.family("switchyard_compare_mismatches_total", "counter", "Mirror pairs with a difference of this kind (noise included), by route.")
        for route in routes {
            let endpoints = book.routes[route]!.endpoints.values
            for kind in DifferenceKind.allCases {
                out.sample("switchyard_compare_mismatches_total", [("route", route), ("kind", kind.rawValue)],
                           Double(endpoints.reduce(0) { $0 + ($1.kindCounts[kind.rawValue] ?? 0) }))
            }
        }
        out.family("switchyard_compare_noise_total", "counter", "Mirror pairs whose every difference was noise when compared, by route.")
        for route in routes {
            out.sample("switchyard_compare_noise_total", [("route", route)],
                       Double(book.routes[route]!.endpoints.values.reduce(0) { $0 + $1.noiseAtIngest }))
        }
        out.family("switchyard_compare_dropped_total", "counter", "Mirrored pairs not compared: the comparer's backlog was full.")
        out.sample("switchyard_compare_dropped_total", [], Double(service.comparisonsDropped))
        return out.text
    }

    /// Per route, the report as `/status.json` carries it (routes with pairs only).
    static func statusJSON(service: AdminService?) -> [String: [String: Any]] {
        guard let service else { return [:] }
        var out: [String: [String: Any]] = [:]
        for route in service.compareReport(route: nil).json() {
            if let name = route["route"] as? String { out[name] = route }
        }
        return out
    }
}
