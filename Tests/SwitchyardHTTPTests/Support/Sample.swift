import Testing

/// A named message for parameterised tests (the name keeps the test log readable).
struct Sample: CustomTestStringConvertible, Sendable {
    var name: String
    var text: String
    var testDescription: String { name }
}
