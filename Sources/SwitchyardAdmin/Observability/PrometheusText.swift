/// Writes the Prometheus text exposition format, version 0.0.4: `# HELP` and `# TYPE`
/// once per family, then its samples; label values escaped (backslash, double quote,
/// line feed).
struct PrometheusText {
    private(set) var text = ""

    /// Starts a metric family.
    mutating func family(_ name: String, _ type: String, _ help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        sample(name, Array(labels), value)
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + Self.format(value) + "\n"
    }

    /// A histogram's samples from non-cumulative bucket counts (the last is +Inf).
    mutating func histogram(_ name: String, _ labels: [(String, String)], buckets: ArraySlice<UInt64>, bounds: [Double], sum: Double) {
        var cumulative: UInt64 = 0
        for (i, count) in buckets.enumerated() {
            cumulative += count
            let le = i < bounds.count ? Self.format(bounds[i]) : "+Inf"
            sample(name + "_bucket", labels + [("le", le)], Double(cumulative))
        }
        sample(name + "_sum", labels, sum)
        sample(name + "_count", labels, Double(cumulative))
    }

    static func escape(_ value: String) -> String {
        // By scalar: "\r\n" is one Character, equal to none of these, and its LF would
        // have gone out raw (a broken line, a metric of the value's choosing after it).
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\"": out.append(contentsOf: "\\\"".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// Integers without a fraction (counters read better), others in Go's float syntax.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
