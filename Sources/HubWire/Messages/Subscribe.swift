import ElectionModel
import NIOCore

/// Which contests a subscriber receives.
public enum SubscriptionFilter: Hashable, Sendable {
    case all
    /// Sorted, without duplicates.
    case regions([RegionIndex])
    case contestKind(ContestKind)

    public func matches(_ contest: Contest) -> Bool {
        switch self {
        case .all: return true
        case .regions(let regions): return regions.contains(contest.region)
        case .contestKind(let kind): return contest.kind == kind
        }
    }

    /// Whether the filter matches the contest with this id; false for an id the election does not have. `.all`
    /// answers without copying the contest out, which fan-out would do for every event.
    public func matches(_ id: ContestID, in election: Election) -> Bool {
        if case .all = self { return election.hasContest(id) }
        return election.contest(id).map(matches) ?? false
    }
}

/// SUBSCRIBE (spec 6.8): a subscriber asks for state and changes, afresh or resuming.
public struct Subscribe: Hashable, Sendable {
    public var filter: SubscriptionFilter
    /// The last sequence number the client applied, when it resumes.
    public var resumeFrom: UInt64?
    public init(filter: SubscriptionFilter, resumeFrom: UInt64?) {
        self.filter = filter
        self.resumeFrom = resumeFrom
    }
}

extension Subscribe: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        switch filter {
        case .all:
            buffer.writeInteger(UInt8(0))
        case .regions(let regions):
            buffer.writeInteger(UInt8(1))
            buffer.writeVarint(regions.count)
            for region in regions { buffer.writeVarint(region.rawValue) }
        case .contestKind(let kind):
            buffer.writeInteger(UInt8(2))
            buffer.writeInteger(kind.rawValue)
        }
        buffer.writeWireBool(resumeFrom != nil)
        if let resumeFrom { buffer.writeVarint(resumeFrom) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Subscribe {
        let filterKind = try reader.u8("subscribe.filterKind")
        let filter: SubscriptionFilter
        switch filterKind {
        case 0:
            filter = .all
        case 1:
            let count = try reader.count("subscribe.regions", max: WireLimits.maxFilterRegions)
            guard count >= 1 else { throw reader.malformed("subscribe.regions is empty") }
            var regions: [RegionIndex] = []
            regions.reserveCapacity(count)
            for _ in 0..<count {
                regions.append(RegionIndex(Int(try reader.varint("subscribe.regions", max: WireLimits.maxIndex))))
            }
            filter = .regions(regions)
        case 2:
            filter = .contestKind(try reader.enumeration("subscribe.contestKind", as: ContestKind.self))
        default:
            throw reader.malformed("subscribe.filterKind \(filterKind) is unknown")
        }
        let resume = try reader.bool("subscribe.resume")
        let from = resume ? try reader.varint("subscribe.fromSequence") : nil
        return Subscribe(filter: filter, resumeFrom: from)
    }
}
