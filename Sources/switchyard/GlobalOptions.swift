/// Options that may come before the command word as well as after it
/// (`switchyard --admin PATH status` = `switchyard status --admin PATH`). The argument
/// parser only knows them after the word, so they are moved there before parsing.
enum GlobalOptions {
    /// Each takes one value.
    static let withValue: Set<String> = ["--admin", "--expect-owner"]

    /// `arguments` without the program name, with global options that precede the first
    /// command word moved after it. Anything else before the word is left where it is, so
    /// that the parser reports it.
    static func moved(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first, withValue.contains(first) || withValue.contains(where: { first.hasPrefix($0 + "=") }) {
            rest = rest.dropFirst()
            if let equals = first.firstIndex(of: "=") {
                // `--admin=PATH`: the admin commands read the option and its value as two words.
                leading += [String(first[..<equals]), String(first[first.index(after: equals)...])]
                continue
            }
            leading.append(first)
            if let value = rest.first {
                leading.append(value)
                rest = rest.dropFirst()
            }
        }
        guard !leading.isEmpty, let word = rest.first, !word.hasPrefix("-") else { return arguments }
        return [word] + Array(rest.dropFirst()) + leading
    }
}
