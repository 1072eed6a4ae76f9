import ElectionModel
import Foundation

/// One desk as the desks file lists it: `{"id": "north-west", "token": "…", "regions": ["north-west"]}` or
/// `"regions": "*"` for every region.
public struct DeskCredential: Codable, Hashable, Sendable {
    public enum Regions: Hashable, Sendable, Codable {
        case all
        case some([String])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let star = try? container.decode(String.self) {
                guard star == "*" else {
                    throw DecodingError.dataCorruptedError(
                        in: container, debugDescription: "regions is \"\(star)\"; use \"*\" or a list of region ids")
                }
                self = .all
            } else {
                self = .some(try container.decode([String].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .all: try container.encode("*")
            case .some(let ids): try container.encode(ids)
            }
        }
    }

    public var id: String
    public var token: String
    public var regions: Regions

    public init(id: String, token: String, regions: Regions) {
        self.id = id
        self.token = token
        self.regions = regions
    }
}

/// The desks allowed to submit, and the check of their tokens. Tokens are compared in constant time and never
/// appear in logs or errors.
public struct DeskDirectory: Sendable {
    private struct Entry: Sendable {
        var identity: DeskIdentity
        var token: [UInt8]
    }

    private let entries: [String: Entry]
    public var deskIDs: [String] { entries.keys.sorted() }

    public init(credentials: [DeskCredential], election: Election) throws(DeskDirectoryError) {
        var entries: [String: Entry] = [:]
        for credential in credentials {
            guard !credential.id.isEmpty, credential.id.utf8.count <= 64 else {
                throw DeskDirectoryError(message: "desk id \"\(credential.id)\" must be 1 to 64 bytes")
            }
            guard credential.token.utf8.count >= 16, credential.token.utf8.count <= 256 else {
                throw DeskDirectoryError(message: "desk \(credential.id): the token must be 16 to 256 bytes")
            }
            let scope: RegionScope
            switch credential.regions {
            case .all:
                scope = .all
            case .some(let ids):
                var regions = Set<RegionIndex>()
                for id in ids {
                    guard let region = election.region(id: id) else {
                        throw DeskDirectoryError(message: "desk \(credential.id): unknown region \"\(id)\"")
                    }
                    regions.insert(region)
                }
                scope = .regions(regions)
            }
            let entry = Entry(
                identity: DeskIdentity(id: credential.id, scope: scope), token: Array(credential.token.utf8))
            guard entries.updateValue(entry, forKey: credential.id) == nil else {
                throw DeskDirectoryError(message: "desk \(credential.id) is listed twice")
            }
        }
        self.entries = entries
    }

    /// The desk, if the token is right. An unknown desk costs the same comparison as a wrong token, so that timing
    /// does not reveal which desks exist.
    public func authenticate(deskID: String, token: String) -> DeskIdentity? {
        let offered = Array(token.utf8)
        guard let entry = entries[deskID] else {
            _ = Self.constantTimeEqual(offered, Self.decoy)
            return nil
        }
        return Self.constantTimeEqual(offered, entry.token) ? entry.identity : nil
    }

    private static let decoy = [UInt8](repeating: 0x5A, count: 64)

    /// Compares every byte whatever the first difference; the length difference is folded in, not short-circuited.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }

    /// A desk for each region (named after it) and one national desk, each with a random 128-bit token.
    public static func generateCredentials(for election: Election) -> [DeskCredential] {
        var generator = SystemRandomNumberGenerator()
        func token() -> String {
            (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
        }
        return election.regions.map { DeskCredential(id: $0.id, token: token(), regions: .some([$0.id])) }
            + [DeskCredential(id: "national", token: token(), regions: .all)]
    }

    public static func decode(_ data: Data) throws(DeskDirectoryError) -> [DeskCredential] {
        do {
            return try JSONDecoder().decode([DeskCredential].self, from: data)
        } catch {
            throw DeskDirectoryError(message: "the desks file is not a JSON list of {id, token, regions}: \(error)")
        }
    }

    public static func encode(_ credentials: [DeskCredential]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(credentials)) ?? Data("[]".utf8)
    }
}

public struct DeskDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

/// Subscriber keys, when the operator configures them (`--subscribers FILE`: a JSON list of {"name", "key"}).
/// Without them any subscriber may watch; with them, a subscriber needs its name and key. Compared in constant time.
public struct SubscriberKeys: Sendable {
    public struct Entry: Codable, Hashable, Sendable {
        public var name: String
        public var key: String
        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    private let keys: [String: [UInt8]]
    /// The subscribers' names (not secret).
    public var names: Set<String> { Set(keys.keys) }

    public init(entries: [Entry]) throws(DeskDirectoryError) {
        var keys: [String: [UInt8]] = [:]
        for entry in entries {
            guard entry.key.utf8.count >= 16, entry.key.utf8.count <= 256 else {
                throw DeskDirectoryError(message: "subscriber \(entry.name): the key must be 16 to 256 bytes")
            }
            guard keys.updateValue(Array(entry.key.utf8), forKey: entry.name) == nil else {
                throw DeskDirectoryError(message: "subscriber \(entry.name) is listed twice")
            }
        }
        self.keys = keys
    }

    public static func decode(_ data: Data) throws(DeskDirectoryError) -> [Entry] {
        do {
            return try JSONDecoder().decode([Entry].self, from: data)
        } catch {
            throw DeskDirectoryError(message: "the subscribers file is not a JSON list of {name, key}: \(error)")
        }
    }

    public func authenticate(name: String, key: String) -> Bool {
        let offered = Array(key.utf8)
        guard let expected = keys[name] else {
            _ = DeskDirectory.constantTimeEqual(offered, [UInt8](repeating: 0x5A, count: 64))
            return false
        }
        return DeskDirectory.constantTimeEqual(offered, expected)
    }
}
