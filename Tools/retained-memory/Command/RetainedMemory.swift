import ArgumentParser
import CHeapStatistics
import ElectionModel
import HubCore
import HubLoad
import HubServer
import HubWire

/// Measures what the hub keeps in memory per event: the heap the event log holds per retained event, and the heap
/// `HubState` holds per remembered revision, with the hub's default bounds. The workload is `hub-load saturate`'s
/// (every contest of the 2023 election in turn, each round with the next revision, alternating the real result and
/// all seats to another party), submitted by the `national` desk through `HubState.submit` as the engine does.
///
/// The figures come from the C heap's own count of bytes in use (glibc's `mallinfo2`), sampled before and after,
/// so they are deterministic for a given build: no timing, no resident-set rounding to pages.
@main
struct RetainedMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retained-memory",
        abstract: "Heap bytes the hub core keeps per retained event and per remembered revision (release build).",
        version: ResultsHubVersion.currentWithProtocol)

    @Option(help: "Events submitted in each measurement.")
    var events = 1_000_000

    @Option(help: "Events kept for resumes (default: the hub's).")
    var retainedEvents: Int?

    @Option(help: "Revisions remembered for idempotent retries (default: the hub's).")
    var retainedRevisions: Int?

    func validate() throws {
        guard events > 0, retainedEvents ?? 1 > 0, retainedRevisions ?? 1 > 0 else {
            throw ValidationError("--events, --retained-events and --retained-revisions must be positive")
        }
    }

    func run() throws {
        guard heap_statistics_bytes_in_use() > 0 else {
            throw ValidationError("this C library does not report its heap use (glibc 2.33 or later, or Darwin)")
        }
        let election = try ResultMaker.defaultElection()
        // The bounds the hub runs with unless told otherwise.
        let defaults = HubConfiguration(
            election: election, desks: try DeskDirectory(credentials: [], election: election), dataDirectory: "")
        let eventBound = retainedEvents ?? defaults.retainedEvents
        let revisionBound = retainedRevisions ?? defaults.retainedRevisions
        print(
            "retained-memory: \(events) events of the saturation workload, "
                + "--retained-events \(eventBound), --retained-revisions \(revisionBound)")

        // A state that remembers one revision: what the others grow besides what they measure (the contests'
        // current records, hashes and scoreboard).
        let one = measureGrowth(election: election, events: events) {
            HubState(election: election, retainedRevisions: 1)
        } step: { state, submissions in
            _ = submissions.submit(to: &state)
        }

        // The event log, fed by a state that remembers one revision.
        let log = measureGrowth(election: election, events: events) {
            (state: HubState(election: election, retainedRevisions: 1), log: EventLog(capacity: eventBound))
        } step: { subject, submissions in
            subject.log.append(submissions.submit(to: &subject.state))
        }
        let retained = min(events, eventBound)
        print(
            "event log:            \(perItem(log.final - one.final, retained)) B per retained event "
                + "(\(retained) retained); at the peak \(perItem(log.peak - one.final, retained)) B")

        // Remembered revisions: the state with the bound, less the state remembering one.
        let remembering = measureGrowth(election: election, events: events) {
            HubState(election: election, retainedRevisions: revisionBound)
        } step: { state, submissions in
            _ = submissions.submit(to: &state)
        }
        let remembered = min(events, revisionBound)
        print(
            "remembered revisions: \(perItem(remembering.final - one.final, remembered)) B per remembered revision "
                + "(\(remembered) remembered); at the peak \(perItem(remembering.peak - one.final, remembered)) B")

        // Both, as the engine holds them.
        let core = measureGrowth(election: election, events: events) {
            (
                state: HubState(election: election, retainedRevisions: revisionBound),
                log: EventLog(capacity: eventBound)
            )
        } step: { subject, submissions in
            subject.log.append(submissions.submit(to: &subject.state))
        }
        print(
            "state and log:        \(mebibytes(core.final)) MiB after \(events) events; "
                + "at the peak \(mebibytes(core.peak)) MiB")
    }
}

/// How much the heap grew: at the end, and at its largest (sampled every 1000 events).
struct HeapGrowth {
    var final: Int
    var peak: Int
}

/// The saturation workload with one desk, which owns every contest.
struct Submissions {
    static let desk = DeskIdentity(id: "national", scope: .all)
    private var workload: SaturationWorkload

    init(election: Election) {
        workload = SaturationWorkload(election: election, desk: 0, desks: 1)
    }

    mutating func submit(to state: inout HubState) -> HubEvent {
        guard case .declare(let declaration) = workload.next(),
            case .accepted(let event) = state.submit(declaration, from: Self.desk)
        else { fatalError("the saturation workload submits only new declarations") }
        return event
    }
}

/// Runs `step` `events` times on what `make` builds, and reports how much the heap grew from just before `make`.
/// Everything is released before returning, so that measurements do not add up.
func measureGrowth<Subject>(
    election: Election, events: Int, make: () -> Subject, step: (inout Subject, inout Submissions) -> Void
) -> HeapGrowth {
    var submissions = Submissions(election: election)
    let before = heapBytesInUse()
    var subject = make()
    var peak = 0
    for index in 1...events {
        step(&subject, &submissions)
        if index % 1000 == 0 { peak = max(peak, heapBytesInUse() - before) }
    }
    let final = heapBytesInUse() - before
    withExtendedLifetime(subject) {}
    return HeapGrowth(final: final, peak: max(peak, final))
}

func heapBytesInUse() -> Int { Int(heap_statistics_bytes_in_use()) }

func perItem(_ bytes: Int, _ items: Int) -> String { formatted(Double(bytes) / Double(items)) }

func mebibytes(_ bytes: Int) -> String { formatted(Double(bytes) / 1_048_576) }

/// One decimal, without Foundation.
func formatted(_ value: Double) -> String {
    let tenths = Int((abs(value) * 10).rounded())
    return "\(value < 0 ? "-" : "")\(tenths / 10).\(tenths % 10)"
}
