// Parsers for the values that appear in a routes file. Each returns the value or a message
// a person can act on; the caller attaches the position.

enum Parsed<Value> {
    case value(Value)
    case problem(String)
}

/// `ADDR:PORT` for a listener: IPv4 literal, `[IPv6]` literal or `localhost`. Port 0 is
/// allowed (the kernel picks one; tests rely on it).
func parseListenEndpoint(_ text: String) -> Parsed<Endpoint> {
    parseEndpoint(text, allowDNSName: false, allowPortZero: true)
}

/// `HOST:PORT` for an upstream server: IPv4, `[IPv6]` or a DNS name (kept as text).
func parseServerEndpoint(_ text: String) -> Parsed<Endpoint> {
    parseEndpoint(text, allowDNSName: true, allowPortZero: false)
}

private func parseEndpoint(_ text: String, allowDNSName: Bool, allowPortZero: Bool) -> Parsed<Endpoint> {
    let example = allowDNSName ? "HOST:PORT, e.g. 10.0.0.5:80, [2001:db8::5]:80 or app.example:443"
                               : "ADDR:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080"
    let host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { return .problem("missing ']' in \"\(text)\" (expected \(example))") }
        host = text[text.index(after: text.startIndex)..<close]
        let rest = text[text.index(after: close)...]
        guard rest.hasPrefix(":") else { return .problem("missing port in \"\(text)\" (expected \(example))") }
        portText = rest.dropFirst()
        guard parseIPv6(host) != nil else { return .problem("bad IPv6 address \"\(host)\"") }
    } else {
        let colons = text.filter { $0 == ":" }.count
        if colons > 1 {
            return .problem("bad address \"\(text)\" (put IPv6 addresses in brackets, e.g. [::1]:8080)")
        }
        guard let colon = text.firstIndex(of: ":") else {
            return .problem("missing port in \"\(text)\" (expected \(example))")
        }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
        if parseIPv4(host) == nil {
            if looksLikeIPv4(host) {
                return .problem("bad IPv4 address \"\(host)\"")
            }
            if allowDNSName {
                guard isDNSName(host) else { return .problem("bad host name \"\(host)\"") }
            } else if host.lowercased() != "localhost" {
                return .problem("bad listen address \"\(host)\" (expected an IPv4 literal, [IPv6] literal or localhost)")
            }
        }
    }
    guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
          let port = Int(portText), port <= 65535 else {
        return .problem("bad port \"\(portText)\" (expected 0…65535)")
    }
    if port == 0 && !allowPortZero {
        return .problem("port 0 is not a valid server port")
    }
    let storedHost = host.lowercased() == "localhost" ? "localhost" : String(host)
    return .value(Endpoint(host: storedHost, port: UInt16(port)))
}

private func looksLikeIPv4(_ text: Substring) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }
}

/// RFC 1123 host name: dot-separated labels of letters, digits, '-' (and '_', which internal
/// DNS often has), each 1…63 long, not starting or ending with '-'; 253 at most.
func isDNSName(_ text: Substring) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 253 else { return false }
    let body = text.hasSuffix(".") ? text.dropLast() : text
    for label in body.split(separator: ".", omittingEmptySubsequences: false) {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
              label.utf8.allSatisfy({ isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F }) else { return false }
    }
    return true
}

func isAlphanumeric(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
}

/// A backend or route name: letters, digits, '-', '_', '.', starting with a letter or digit.
/// Names appear in admin commands and audit lines, so they stay plain.
func isPlainName(_ text: String) -> Bool {
    guard let first = text.utf8.first, isAlphanumeric(first), text.utf8.count <= 64 else { return false }
    return text.utf8.allSatisfy { isAlphanumeric($0) || $0 == 0x2D || $0 == 0x5F || $0 == 0x2E }
}

/// An HTTP field name or cookie name: RFC 9110 `token` characters.
public func isHTTPToken(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.allSatisfy { byte in
        isAlphanumeric(byte) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

/// `95%`, `4.75%`, `0.01%`, `100%` → basis points. At most two decimals: a finer share
/// cannot be represented by 10000 buckets.
func parsePercentage(_ text: String) -> Parsed<Int> {
    let hint = "expected a percentage like 5%, 4.75% or 0.01%"
    guard text.hasSuffix("%") else { return .problem("bad percentage \"\(text)\" (\(hint))") }
    let number = text.dropLast()
    let parts = number.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.count <= 3,
          whole.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
        return .problem("bad percentage \"\(text)\" (\(hint))")
    }
    var fraction = parts.count == 2 ? parts[1] : ""
    guard parts.count == 1 || !fraction.isEmpty, fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
        return .problem("bad percentage \"\(text)\" (\(hint))")
    }
    guard fraction.count <= 2 else {
        return .problem("percentage \"\(text)\" has more than 2 decimals (the finest share is 0.01%)")
    }
    while fraction.count < 2 { fraction += "0" }
    let basisPoints = Int(whole)! * 100 + Int(fraction)!
    guard basisPoints <= 10000 else { return .problem("percentage \"\(text)\" is over 100%") }
    return .value(basisPoints)
}

/// `500ms`, `2s`, `1m`, `1h` → milliseconds; must be positive.
func parseDuration(_ text: String) -> Parsed<Int> {
    let units: [(suffix: String, factor: Int)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        let digits = text.dropLast(suffix.count)
        guard !digits.isEmpty, digits.count <= 9, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int(digits) else { break }
        guard n > 0 else { return .problem("duration \"\(text)\" must be more than zero") }
        return .value(n * factor)
    }
    return .problem("bad duration \"\(text)\" (expected e.g. 500ms, 2s or 1m)")
}

/// `10m`, `512k`, `1g` (powers of 1024) or plain bytes.
func parseSize(_ text: String) -> Parsed<UInt64> {
    var digits = Substring(text)
    var factor: UInt64 = 1
    switch text.last {
    case "k", "K": factor = 1 << 10; digits = digits.dropLast()
    case "m", "M": factor = 1 << 20; digits = digits.dropLast()
    case "g", "G": factor = 1 << 30; digits = digits.dropLast()
    default: break
    }
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = UInt64(digits) else {
        return .problem("bad size \"\(text)\" (expected bytes or e.g. 512k, 10m, 1g)")
    }
    let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
    guard !overflow else { return .problem("size \"\(text)\" is too large") }
    return .value(bytes)
}

/// A non-negative decimal integer within `range`.
func parseInteger(_ text: String, in range: ClosedRange<Int>, what: String) -> Parsed<Int> {
    guard !text.isEmpty, text.count <= 10, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
          let n = Int(text), range.contains(n) else {
        return .problem("bad \(what) \"\(text)\" (expected \(range.lowerBound)…\(range.upperBound))")
    }
    return .value(n)
}

/// `12.50%` for 1250 basis points: the form every message and answer uses.
func formatBasisPoints(_ basisPoints: Int) -> String {
    let fraction = basisPoints % 100
    return "\(basisPoints / 100).\(fraction < 10 ? "0" : "")\(fraction)%"
}
