import ElectionModel
import HubTestSupport
import Testing

@testable import HubCore

@Suite("Ring buffer")
struct RingBufferTests {
    @Test func behavesLikeAnArrayThroughGrowthWrapAndShrink() {
        var ring = RingBuffer(placeholder: -1)
        var model: [Int] = []
        var random = SplitMix64(seed: 9)
        var next = 0
        var largestCapacity = 0
        for step in 0..<20_000 {
            // Grow for the first half, shrink for the second, with removals at both ends throughout.
            let roll = random.next() % 4
            if roll == 0 || (step < 10_000 && roll < 3) {
                ring.append(next)
                model.append(next)
                next += 1
            } else if roll < 3 {
                if let first = model.first {
                    #expect(ring.removeFirst() == first)
                    model.removeFirst()
                }
            } else if let last = model.last {
                #expect(ring.removeLast() == last)
                model.removeLast()
            }
            #expect(ring.count == model.count)
            largestCapacity = max(largestCapacity, ring.capacity)
            if step % 97 == 0 { #expect((0..<ring.count).map { ring[$0] } == model) }
        }
        #expect(ring.first == model.first && ring.last == model.last)
        #expect(largestCapacity > 1000)
        #expect(ring.capacity <= max(16, 4 * ring.count), "a sparse ring gives memory back")
    }

    @Test func stopsGrowingAtItsMaximum() {
        var ring = RingBuffer(placeholder: 0, maximumCapacity: 100)
        for value in 0..<100 { ring.append(value) }
        #expect(ring.capacity == 100)
        for value in 100..<1000 {
            ring.removeFirst()
            ring.append(value)
        }
        #expect(ring.capacity == 100)
        #expect((0..<100).map { ring[$0] } == Array(900..<1000))
    }

    @Test func findsThePartitionOfAnOrderedRing() {
        var ring = RingBuffer(placeholder: 0)
        for value in stride(from: 0, to: 200, by: 2) { ring.append(value) }
        for _ in 0..<30 { ring.removeFirst() }  // the storage now wraps after appends
        for value in stride(from: 200, to: 260, by: 2) { ring.append(value) }
        #expect(ring.partitioningIndex { $0 < 60 } == 0)
        #expect(ring.partitioningIndex { $0 < 61 } == 1)
        #expect(ring.partitioningIndex { $0 < 258 } == ring.count - 1)
        #expect(ring.partitioningIndex { $0 < 1000 } == ring.count)
    }
}

@Suite("Remembered revisions")
struct RememberedRevisionsTests {
    typealias Revision = RememberedRevisions.Revision

    func revision(_ contest: UInt32, _ revision: UInt32) -> Revision {
        Revision(contest: ContestID(contest), revision: revision, contentHash: UInt64(contest) << 32 | UInt64(revision))
    }

    @Test func forgetsTheOldestPastTheBound() {
        var remembered = RememberedRevisions(bound: 3)
        for sequence in UInt64(1)...5 {
            remembered.remember(revision(UInt32(sequence % 2 + 1), UInt32(sequence)), sequence: sequence)
        }
        #expect(remembered.count == 3)
        #expect(remembered.lookUp(contest: ContestID(2), revision: 1) == nil)
        #expect(remembered.lookUp(contest: ContestID(1), revision: 2) == nil)
        for sequence in UInt64(3)...5 {
            let found = remembered.lookUp(contest: ContestID(UInt32(sequence % 2 + 1)), revision: UInt32(sequence))
            #expect(found?.sequence == sequence)
            #expect(found?.contentHash == revision(UInt32(sequence % 2 + 1), UInt32(sequence)).contentHash)
        }
        #expect(remembered.lookUp(contest: ContestID(1), revision: 5) == nil, "another contest's revision")
    }

    @Test func revertForgetsOnlyTheLatest() {
        var remembered = RememberedRevisions(bound: 10)
        remembered.remember(revision(1, 1), sequence: 1)
        remembered.remember(revision(1, 2), sequence: 2)
        remembered.remember(revision(2, 1), sequence: 3)
        remembered.forgetNewest(sequence: 3)
        remembered.forgetNewest(sequence: 2)
        #expect(remembered.newestSequence == 1)
        #expect(remembered.lookUp(contest: ContestID(2), revision: 1) == nil)
        #expect(remembered.lookUp(contest: ContestID(1), revision: 2) == nil)
        #expect(remembered.lookUp(contest: ContestID(1), revision: 1)?.sequence == 1)
        // The sequence numbers are used again, for other revisions.
        remembered.remember(revision(2, 7), sequence: 2)
        #expect(remembered.lookUp(contest: ContestID(2), revision: 7)?.sequence == 2)
    }

    @Test func revertWithABoundOfOneReachesPastWhatIsRemembered() {
        var remembered = RememberedRevisions(bound: 1)
        remembered.remember(revision(1, 1), sequence: 1)
        remembered.remember(revision(1, 2), sequence: 2)
        remembered.forgetNewest(sequence: 2)
        remembered.forgetNewest(sequence: 1)  // already forgotten
        #expect(remembered.count == 0)
        remembered.remember(revision(1, 1), sequence: 1)
        #expect(remembered.lookUp(contest: ContestID(1), revision: 1)?.sequence == 1)
    }

    @Test func findsEveryRememberedRevisionOfALongHistory() {
        var remembered = RememberedRevisions(bound: 5000)
        // Contest 1 takes every third sequence number, with every other revision number.
        var expected: [UInt32: UInt64] = [:]
        for sequence in UInt64(1)...9000 {
            let contest: UInt32 = sequence % 3 == 0 ? 1 : 2
            let revisionNumber = UInt32(sequence * 2)
            remembered.remember(revision(contest, revisionNumber), sequence: sequence)
            if contest == 1 { expected[revisionNumber] = sequence }
        }
        for (revisionNumber, sequence) in expected {
            let found = remembered.lookUp(contest: ContestID(1), revision: revisionNumber)
            #expect(found?.sequence == (sequence > 4000 ? sequence : nil))
            #expect(remembered.lookUp(contest: ContestID(1), revision: revisionNumber + 1) == nil)
        }
    }

    @Test func sequenceNumbersPastThirtyTwoBits() {
        let start = UInt64(UInt32.max) - 4
        var remembered = RememberedRevisions(bound: 8, after: start)
        for offset in UInt64(1)...12 {
            remembered.remember(revision(UInt32(offset % 2 + 1), UInt32(offset)), sequence: start + offset)
        }
        for offset in UInt64(1)...12 {
            let found = remembered.lookUp(contest: ContestID(UInt32(offset % 2 + 1)), revision: UInt32(offset))
            #expect(found?.sequence == (offset > 4 ? start + offset : nil))
        }
    }

    /// The structure against the one it replaced (a dictionary and an order array), on random submissions,
    /// reverts and lookups over a few contests.
    @Test func answersAsTheDictionaryItReplacedDid() {
        struct Key: Hashable {
            var contest: UInt32
            var revision: UInt32
        }
        let bound = 40
        var remembered = RememberedRevisions(bound: bound)
        var dictionary: [Key: (sequence: UInt64, hash: UInt64)] = [:]
        var order: [Key] = []
        var latestRevision: [UInt32: UInt32] = [:]
        var sequence: UInt64 = 0
        var random = SplitMix64(seed: 2023)
        for _ in 0..<20_000 {
            let contest = UInt32(random.next() % 5 + 1)
            if random.next() % 5 == 0, let key = order.last {
                // Revert the latest.
                remembered.forgetNewest(sequence: sequence)
                dictionary[key] = nil
                order.removeLast()
                latestRevision[key.contest] = key.revision - 1
                sequence -= 1
            } else {
                sequence += 1
                let revisionNumber = latestRevision[contest, default: 0] + 1 + UInt32(random.next() % 3)
                latestRevision[contest] = revisionNumber
                let hash = random.next()
                remembered.remember(
                    Revision(contest: ContestID(contest), revision: revisionNumber, contentHash: hash),
                    sequence: sequence)
                let key = Key(contest: contest, revision: revisionNumber)
                dictionary[key] = (sequence, hash)
                order.append(key)
                if order.count > bound { dictionary[order.removeFirst()] = nil }
            }
            let probe = Key(
                contest: contest, revision: UInt32(random.next() % UInt64(latestRevision[contest, default: 0] + 2)))
            let found = remembered.lookUp(contest: ContestID(probe.contest), revision: probe.revision)
            #expect(found?.sequence == dictionary[probe]?.sequence)
            #expect(found?.contentHash == dictionary[probe]?.hash)
        }
    }
}
