import NIOCore

extension ByteBuffer {
    /// Unsigned LEB128 (spec 2).
    @inlinable
    public mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        writeInteger(UInt8(value))
    }

    @inlinable
    public mutating func writeVarint(_ value: some BinaryInteger) {
        writeVarint(UInt64(value))
    }

    /// ZigZag, then LEB128.
    @inlinable
    public mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A varint byte count, then the UTF-8 bytes.
    @inlinable
    public mutating func writeWireString(_ value: String) {
        writeVarint(UInt64(value.utf8.count))
        writeString(value)
    }

    @inlinable
    public mutating func writeWireBool(_ value: Bool) {
        writeInteger(UInt8(value ? 1 : 0))
    }
}

/// Writes bytes into memory reserved up front for a whole record. `ByteBuffer`'s own writes check capacity,
/// uniqueness and exclusive access on every call, which costs more than the bytes themselves; here the caller
/// reserves a bound once (`RecordCodec.maximumSize`) and each write checks only that bound.
@usableFromInline
struct RawWriter {
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let capacity: Int
    @usableFromInline private(set) var count = 0

    @inlinable
    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    @inlinable
    mutating func byte(_ value: UInt8) {
        precondition(count < capacity, "RawWriter: the reserved bound is too small")
        base.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Unsigned LEB128 (spec 2), at most 10 bytes.
    @inlinable
    mutating func varint(_ value: UInt64) {
        precondition(count + 10 <= capacity, "RawWriter: the reserved bound is too small")
        var value = value
        var offset = count
        while value >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: offset, as: UInt8.self)
            offset += 1
            value >>= 7
        }
        base.storeBytes(of: UInt8(value), toByteOffset: offset, as: UInt8.self)
        count = offset + 1
    }

    @inlinable
    mutating func varint(_ value: some BinaryInteger) { varint(UInt64(value)) }

    /// A varint byte count, then the UTF-8 bytes (the bound must include `value.utf8.count`).
    @inlinable
    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            precondition(count + utf8.count <= capacity, "RawWriter: the reserved bound is too small")
            if let source = utf8.baseAddress {
                (base + count).copyMemory(from: source, byteCount: utf8.count)
            }
            count += utf8.count
        }
    }
}

/// Reads the fields of one payload in order. Every read checks bounds and limits and throws a `WireError`
/// naming the field, with the field's bytes; nothing is allocated for a count before it is checked.
public struct WireReader {
    public private(set) var buffer: ByteBuffer
    /// Where the field read last (or being read) starts: an error about its value carries the bytes from here.
    private(set) var fieldStart: Int

    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.fieldStart = buffer.readerIndex
    }

    public var remaining: Int { buffer.readableBytes }

    /// Where the next field starts, for an error about a value that spans several fields (`malformed(_:from:)`).
    var position: Int { buffer.readerIndex }

    /// The error for a value the spec does not allow, with the bytes of the field just read (or from `start`).
    func error(_ kind: WireError.Kind, _ message: String, from start: Int? = nil) -> WireError {
        WireError(kind, message, bytesOf: buffer, from: start ?? fieldStart)
    }

    /// A `malformedFrame` error, with the bytes of the field just read (or from `start`).
    func malformed(_ message: String, from start: Int? = nil) -> WireError {
        error(.malformedFrame, message, from: start)
    }

    func limit(_ message: String) -> WireError { error(.limitExceeded, message) }

    public mutating func u8(_ field: StaticString) throws(WireError) -> UInt8 {
        fieldStart = buffer.readerIndex
        guard let value = buffer.readInteger(as: UInt8.self) else { throw malformed("truncated at \(field)") }
        return value
    }

    public mutating func u16(_ field: StaticString) throws(WireError) -> UInt16 {
        fieldStart = buffer.readerIndex
        guard let value = buffer.readInteger(endianness: .big, as: UInt16.self) else {
            throw malformed("truncated at \(field)")
        }
        return value
    }

    public mutating func u64(_ field: StaticString) throws(WireError) -> UInt64 {
        fieldStart = buffer.readerIndex
        guard let value = buffer.readInteger(endianness: .big, as: UInt64.self) else {
            throw malformed("truncated at \(field)")
        }
        return value
    }

    public mutating func bytes(_ count: Int, _ field: StaticString) throws(WireError) -> ByteBuffer {
        fieldStart = buffer.readerIndex
        guard let slice = buffer.readSlice(length: count) else { throw malformed("truncated at \(field)") }
        return slice
    }

    public mutating func varint(_ field: StaticString) throws(WireError) -> UInt64 {
        fieldStart = buffer.readerIndex
        switch VarintParser.parse(&buffer) {
        case .value(let value): return value
        case .truncated: throw malformed("truncated at \(field)")
        case .nonMinimal: throw malformed("\(field): varint is not minimally encoded")
        case .overflow: throw malformed("\(field): varint is longer than 10 bytes or exceeds 2^64-1")
        }
    }

    /// A varint that must be at most `maximum` (limits of spec 9).
    public mutating func varint(_ field: StaticString, max maximum: UInt64) throws(WireError) -> UInt64 {
        let value = try varint(field)
        guard value <= maximum else { throw limit("\(field) is \(value), over the limit \(maximum)") }
        return value
    }

    public mutating func varint32(_ field: StaticString) throws(WireError) -> UInt32 {
        UInt32(try varint(field, max: UInt64(UInt32.max)))
    }

    /// Contest ids and revisions: 1 ... 2^32-1 (0 is never valid).
    public mutating func nonZeroVarint32(_ field: StaticString) throws(WireError) -> UInt32 {
        let value = try varint32(field)
        guard value != 0 else { throw malformed("\(field) is 0; it starts at 1") }
        return value
    }

    public mutating func signedVarint(_ field: StaticString) throws(WireError) -> Int64 {
        let raw = try varint(field)
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A signed varint whose magnitude must be at most `maximum` (counts and their changes).
    public mutating func signedVarint(_ field: StaticString, max maximum: Int64) throws(WireError) -> Int64 {
        let value = try signedVarint(field)
        guard value.magnitude <= UInt64(maximum) else {
            throw limit("\(field) is \(value), beyond the limit ±\(maximum)")
        }
        return value
    }

    public mutating func bool(_ field: StaticString) throws(WireError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let other: throw malformed("\(field): \(other) is not a bool")
        }
    }

    /// Specification 1.2's rehearsal marking (section 6.17): a bool after the last field of a message that carries
    /// results, present only from a rehearsal hub (or as 0). Absent, the data is live.
    mutating func rehearsalMarking(_ field: StaticString) throws(WireError) -> Bool {
        remaining > 0 ? try bool(field) : false
    }

    /// A `u8` that must be one of `Value`'s raw values (spec 2: an enumeration value outside its table is
    /// `malformedFrame`).
    mutating func enumeration<Value: RawRepresentable<UInt8>>(
        _ field: StaticString, as: Value.Type = Value.self
    ) throws(WireError) -> Value {
        let raw = try u8(field)
        guard let value = Value(rawValue: raw) else { throw malformed("\(field) \(raw) is unknown") }
        return value
    }

    /// A list's element count, checked against its limit and against the bytes left (every element takes at
    /// least one byte), so that a lying count cannot make the reader reserve memory.
    public mutating func count(_ field: StaticString, max maximum: Int) throws(WireError) -> Int {
        let value = try varint(field)
        guard value <= UInt64(maximum) else { throw limit("\(field) has \(value) entries, over the limit \(maximum)") }
        guard value <= UInt64(buffer.readableBytes) else {
            throw malformed("\(field) claims \(value) entries but only \(buffer.readableBytes) bytes follow")
        }
        return Int(value)
    }

    public mutating func string(_ field: StaticString, maxBytes: Int) throws(WireError) -> String {
        let length = try varint(field)
        guard length <= UInt64(maxBytes) else {
            throw limit("\(field) is \(length) bytes, over the limit \(maxBytes)")
        }
        guard let bytes = buffer.readSlice(length: Int(length)) else { throw malformed("truncated at \(field)") }
        guard let value = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            throw malformed("\(field) is not valid UTF-8")
        }
        return value
    }
}

enum VarintParser {
    enum Result {
        case value(UInt64)
        case truncated
        case nonMinimal
        case overflow
    }

    /// Reads a varint, moving the reader index only on success. The bytes are read through one pointer rather than
    /// one bounds-checked `ByteBuffer` read each.
    @inlinable
    static func parse(_ buffer: inout ByteBuffer) -> Result {
        let (result, consumed) = buffer.withUnsafeReadableBytes { bytes -> (Result, Int) in
            var value: UInt64 = 0
            var shift: UInt64 = 0
            var consumed = 0
            while true {
                guard consumed < bytes.count else { return (.truncated, 0) }
                let byte = bytes[consumed]
                consumed += 1
                if consumed == 10 {
                    // The tenth byte may carry only the top bit of a 64-bit value.
                    guard byte <= 1 else { return (.overflow, 0) }
                }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 {
                    if consumed > 1 && byte == 0 { return (.nonMinimal, 0) }
                    return (.value(value), consumed)
                }
                shift += 7
                if consumed == 10 { return (.overflow, 0) }
            }
        }
        if consumed > 0 { buffer.moveReaderIndex(forwardBy: consumed) }
        return result
    }
}
