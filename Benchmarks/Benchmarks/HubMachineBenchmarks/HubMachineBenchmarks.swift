import Benchmark
import BenchmarkFixtures
import CHeapBytes
import ElectionModel
import Foundation
import HubCore
import HubWire
import NIOCore

// The hub's ingest path without sockets or disk, and what the hub keeps in memory per event.
//
// - submit-to-ack: a desk's SUBMIT frame, as the connection's frame reader hands it on, decoded (`FrameCodec`),
//   checked by the desk's `ConnectionMachine`, decided by `HubMachine.submit`, made "durable" by a store that does
//   nothing, and acked by `HubMachine.commitSucceeded`, which encodes the ACK frame. Per declaration; no
//   subscribers. What the server adds around it (the socket read, `FrameReader` cutting the frame, the hop to the
//   engine's event loop, the journal's write and fdatasync, the socket write) is not here.
// - retained-memory: the memory a `HubMachine` holds after 100,000 declarations through the same path, per event.

let benchmarks: @Sendable () -> Void = {
    let perDeclaration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        // See CodecBenchmarks: more than 1% more mallocs than Thresholds/ records fails the check.
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 1.0])])

    // 1000 declarations per iteration, each a correction of a council (a new revision, so a new event), committed
    // one at a time (an idle hub commits a lone submission at once) or 64 at a time (a group commit under load: the
    // handler hands over one read's submissions together).
    for perCommit in [1, 64] {
        Benchmark("HubMachine.submit-to-ack.commit-of-\(perCommit)", configuration: perDeclaration) {
            (benchmark: Benchmark, ingest: IngestPath) in
            let frames = ingest.nextFrames(benchmark.scaledIterations.count)
            benchmark.startMeasurement()
            blackHole(ingest.submitAndAck(frames, perCommit: perCommit))
            benchmark.stopMeasurement()
        } setup: {
            IngestPath()
        }
    }

    // The machine's memory per event: a new `HubMachine` (with the desk connected and every contest's first
    // declaration) driven through 100,000 corrections in commits of 64, as under load; its growth from before it was
    // made, divided by the events it holds (100,234). The default bounds apply (200,000 events retained for resumes,
    // 1,000,000 revisions remembered), so every event is retained. Two measures, one benchmark each (ordo-one shows
    // one custom metric per benchmark): the resident set (what the memory target is about; freed heap pages
    // are returned with malloc_trim first, so that reused pages show as growth too) and the C heap in use (exact,
    // malloc's bookkeeping included). Each iteration keeps its machine and frames, so that the next grows anew.
    for name in ["residentBytesPerEvent", "heapBytesPerEvent"] {
        let resident = name == "residentBytesPerEvent"
        func measure() -> Int { resident ? residentBytes() : Int(heap_bytes_in_use()) }
        let metric = BenchmarkMetric.custom(name, polarity: .prefersSmaller, useScalingFactor: false)
        Benchmark(
            "HubMachine.retained-memory.\(name)",
            configuration: .init(
                metrics: [metric], warmupIterations: 0, maxDuration: .seconds(30), maxIterations: 5)
        ) { (benchmark: Benchmark, kept: KeptMachines) in
            // The frames first, so that what they take is not counted as the machine's.
            let frames = IngestPath.submitFrames(corrections: 0..<100_000)
            heap_trim()
            let before = measure()
            let ingest = IngestPath()
            blackHole(ingest.submitAndAck(frames, perCommit: 64))
            let growth = measure() - before
            let events = Int(ingest.machine.durableSequence)
            guard ingest.machine.log.count == events, events == 100_000 + Fixtures.nightDeclarations.count else {
                fatalError("not every event was retained")
            }
            kept.machines.append(ingest)
            kept.frames.append(frames)
            benchmark.measurement(metric, growth / events)
        } setup: {
            KeptMachines()
        }
    }
}

/// A hub machine with one desk connected, and the desk's connection machine, fed SUBMIT frames.
final class IngestPath {
    static let desk = PeerID(1)
    var machine: HubMachine
    var connection: ConnectionMachine
    /// The desk's frames are uncompressed: SUBMIT is not compressible.
    let codec = FrameCodec()
    /// How many corrections were handed out so far.
    var corrections = 0
    var now: UInt64 = 1_000_000_000

    init() {
        let election = Fixtures.election
        machine = HubMachine(configuration: .init(election: election))
        connection = ConnectionMachine(
            peer: Self.desk,
            context: .init(
                hubName: "bench", electionID: election.id, electionDigest: Fixtures.definition.digest,
                definitionDigest: Fixtures.definition.definitionDigest, heartbeatIntervalMillis: 5_000,
                regionCount: election.regions.count))
        let hello = Hello(role: .desk, principal: "national", secret: "-", clientName: "bench")
        guard
            case .established = connection.received(
                .hello(hello), latestSequence: 0,
                authenticate: { _ in
                    .desk(Fixtures.nationalDesk)
                })
        else { fatalError("the desk's handshake failed") }
        _ = machine.connected(Self.desk, compression: .none, desk: nil)
        // Every contest's first declaration, so that what is measured are corrections of a full state.
        let firsts = Self.submitFrames(Fixtures.nightDeclarations, firstRequestID: 1)
        _ = submitAndAck(firsts, perCommit: 64)
        guard machine.durableSequence == UInt64(firsts.count) else { fatalError("a first declaration failed") }
    }

    /// SUBMIT frames of `declarations`, request ids from `firstRequestID`, as `FrameReader` hands them on: the frame's
    /// type, flags and payload, its length prefix read.
    static func submitFrames(_ declarations: [Declaration], firstRequestID: UInt64) -> [Frame] {
        let codec = FrameCodec()
        return declarations.enumerated().map { offset, declaration in
            var bytes = codec.encode(
                .submit(Submit(requestID: firstRequestID + UInt64(offset), declaration: declaration)))
            let length = Int(bytes.readInteger(as: UInt32.self)!)
            let type: UInt8 = bytes.readInteger()!
            let flags: UInt8 = bytes.readInteger()!
            return Frame(type: type, flags: flags, payload: bytes.readSlice(length: length - 2)!)
        }
    }

    /// SUBMIT frames of the corrections `Fixtures.correction(i)` for `i` in `corrections`.
    static func submitFrames(corrections: Range<Int>) -> [Frame] {
        submitFrames(corrections.map(Fixtures.correction), firstRequestID: 1_000 + UInt64(corrections.lowerBound))
    }

    /// The next `count` corrections as SUBMIT frames (made outside the measurement).
    func nextFrames(_ count: Int) -> [Frame] {
        defer { corrections += count }
        return Self.submitFrames(corrections: corrections..<(corrections + count))
    }

    /// Decodes, checks and submits the frames, `perCommit` per commit, completes each commit at once, and returns
    /// the bytes of the ACK frames the desk would be sent (the machine hands a desk one buffer per commit with all
    /// its ACKs). Stops the process if any submission was not a new event.
    func submitAndAck(_ frames: [Frame], perCommit: Int) -> Int {
        let sequenceBefore = machine.durableSequence
        var ackBytes = 0
        var submissions: [HubMachine.Submission] = []
        submissions.reserveCapacity(perCommit)
        var start = 0
        while start < frames.count {
            let end = min(start + perCommit, frames.count)
            submissions.removeAll(keepingCapacity: true)
            for frame in frames[start..<end] {
                let message: HubMessage
                do { message = try codec.decode(frame) } catch { fatalError("a SUBMIT did not decode: \(error)") }
                guard
                    case .submit(let submission) = connection.received(
                        message, latestSequence: machine.durableSequence, authenticate: { _ in .denied })
                else { fatalError("the desk's connection did not pass a SUBMIT on") }
                submissions.append(submission)
            }
            for action in machine.submit(submissions) {
                guard case .append = action else { fatalError("a submission was answered before its commit") }
            }
            // The store: nothing to do, it is durable.
            now += 10_000
            for action in machine.commitSucceeded(now: now) {
                switch action {
                case .send(let frames, to: _):
                    ackBytes += frames.readableBytes
                case .notice: break
                default: fatalError("unexpected action after a commit: \(action)")
                }
            }
            start = end
        }
        guard machine.durableSequence == sequenceBefore + UInt64(frames.count) else {
            fatalError(
                "\(sequenceBefore + UInt64(frames.count) - machine.durableSequence) submissions were not new events")
        }
        return ackBytes
    }
}

/// The machines of the iterations before, kept alive.
final class KeptMachines {
    var machines: [IngestPath] = []
    /// And their frames: memory freed between iterations would be reused, and not show as growth.
    var frames: [[Frame]] = []
}

/// The process's resident set size, from `/proc/self/statm` (Linux: its second field, in pages); 0 elsewhere.
func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
