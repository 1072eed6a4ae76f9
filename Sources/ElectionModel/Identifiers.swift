/// A contest's stable id from the election definition (1 ... 2^32-1).
public struct ContestID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "contest \(rawValue)" }
}

/// A party's 0-based position in the election's party list. The wire refers to parties this way.
public struct PartyIndex: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A region's 0-based position in the election's region list.
public struct RegionIndex: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A count for one party: seats or votes.
public struct PartyCount: Hashable, Sendable {
    public var party: PartyIndex
    public var count: UInt32
    public init(party: PartyIndex, count: UInt32) {
        self.party = party
        self.count = count
    }
}
