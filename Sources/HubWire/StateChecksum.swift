import ElectionModel
import NIOCore

/// The hash `H` of spec 7.1: 64-bit FNV-1a, then the MurmurHash3 finaliser so that the sum of hashes mixes well.
public enum StateHash {
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b93f_e53e_4b87
        h ^= h >> 33
        return h
    }

    /// `H` of a record's canonical bytes, encoded on the stack rather than into a buffer of its own.
    public static func hash(_ record: ContestRecord) -> UInt64 {
        RecordCodec.withEncoded(record) { hash($0) }
    }
}

/// The state checksum (spec 7.1): the sum modulo 2^64 of `H` over the records, updated per change in O(record).
public struct StateChecksum: Hashable, Sendable {
    public private(set) var value: UInt64

    public init(value: UInt64 = 0) { self.value = value }

    public init(records: some Sequence<ContestRecord>) {
        self.value = records.reduce(0) { $0 &+ StateHash.hash($1) }
    }

    /// Replaces a contest's record: `old` is its previous record (nil if none).
    public mutating func replace(_ old: ContestRecord?, with new: ContestRecord?) {
        replace(oldHash: old.map { StateHash.hash($0) }, newHash: new.map { StateHash.hash($0) })
    }

    /// The same, for a caller that keeps each record's hash.
    public mutating func replace(oldHash: UInt64?, newHash: UInt64?) {
        if let oldHash { value = value &- oldHash }
        if let newHash { value = value &+ newHash }
    }
}
