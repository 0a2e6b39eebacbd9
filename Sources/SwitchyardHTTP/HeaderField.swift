/// One field line of a head, as positions in the caller's buffer.
public struct HeaderField: Sendable, Equatable {
    /// The field name, exactly as received (compare it with `ASCII.equalsIgnoringCase`).
    public var name: ByteSpan
    /// The field value with leading and trailing SP/HTAB removed; may be empty.
    public var value: ByteSpan
    /// What the proxy must do with this field.
    public var role: HeaderRole

    public init(name: ByteSpan, value: ByteSpan, role: HeaderRole) {
        self.name = name
        self.value = value
        self.role = role
    }
}
