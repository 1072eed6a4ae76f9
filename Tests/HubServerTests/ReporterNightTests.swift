import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 10's reporter items, each against a real hub over TCP with the real `reporter` executable.
@Suite("reporter on election night", .serialized)
struct ReporterNightTests {
    static let binary = Executables.reporter
    static let subscriberKey = "graphics-key-0123456789"

    /// The environment for a child: desk credentials or none, plus `extra`.
    static func environment(desk: Bool, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["RESULTS_HUB_DESK"] = desk ? "national" : nil
        environment["RESULTS_HUB_TOKEN"] = desk ? TestHub.nationalToken : nil
        environment["RESULTS_HUB_KEY"] = nil
        environment.merge(extra) { $1 }
        return environment
    }

    static func reporter(
        _ arguments: [String], port: Int, desk: Bool = true, environment extra: [String: String] = [:]
    ) async throws -> CommandRun {
        try await CommandRun.run(
            binary, arguments + ["--hub", "127.0.0.1:\(port)"], environment: environment(desk: desk, extra))
    }

    static func watcher(_ arguments: [String], port: Int) throws -> LineReader {
        try LineReader(
            binary: binary, arguments: arguments + ["--hub", "127.0.0.1:\(port)"], environment: environment(desk: false)
        )
    }

    static func object(_ line: some StringProtocol) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }

    // MARK: - contests

    @Test func contestsListsEverySlugWithItsResultAndSequence() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let port = hub.port
        var run = try await Self.reporter(
            ["submit", "--contest", "Swindon", "--seats", "LAB=31,CON=22,LD=4"], port: port)
        #expect(run.output == "swindon: accepted as sequence 1, revision 1 — LAB gain from CON\n", "any case")

        run = try await Self.reporter(["contests"], port: port, desk: false)
        #expect(run.status == 0)
        var lines = Self.lines(run.output)
        #expect(lines.first == "English local elections, 4 May 2023: 234 contests, 1 declared (sequence 1)")
        #expect(lines.count == 3 + 234, "title, header, rule, one row per contest")
        #expect(lines[1].hasPrefix("slug"))
        for column in ["name", "region", "kind", "seats", "before", "result", "sequence"] {
            #expect(lines[1].contains(column))
        }
        let swindon = try #require(lines.first { $0.hasPrefix("swindon ") })
        #expect(swindon.contains("south-west"))
        #expect(swindon.contains("council"))
        #expect(swindon.contains(" 57 "))
        #expect(swindon.contains("CON"))
        #expect(swindon.contains("LAB gain from CON"))
        #expect(swindon.hasSuffix(" 1"))

        run = try await Self.reporter(
            ["contests", "--region", "North West", "--undeclared", "--csv"], port: port, desk: false)
        lines = Self.lines(run.output)
        #expect(lines.first == "slug,name,region,kind,seats,control_before,result,sequence")
        #expect(lines.count == 1 + 31)
        #expect(lines.dropFirst().allSatisfy { $0.contains(",north-west,") })

        run = try await Self.reporter(["contests", "--region", "south-west", "--csv"], port: port, desk: false)
        #expect(
            run.output.contains(
                "bournemouth-christchurch-and-poole,\"Bournemouth, Christchurch and Poole\",south-west,council,76,NOC,,"
            ),
            "a name with a comma is quoted")

        run = try await Self.reporter(["contests", "--declared", "--json"], port: port, desk: false)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [[String: Any]])
        #expect(list.count == 1)
        #expect(list.first?["contest"] as? String == "swindon")
        #expect(list.first?["sequence"] as? Int == 1)
        #expect(list.first?["status"] as? String == "declared")
        #expect(list.first?["totalSeats"] as? Int == 57)
        #expect(list.first?["controlBefore"] as? String == "CON")

        run = try await Self.reporter(["contests", "--declared", "--undeclared"], port: port, desk: false)
        #expect(run.status != 0)
        #expect(run.errors.contains("Usage: reporter contests"))

        // Slugs in any case; an unknown one points to the listing.
        run = try await Self.reporter(["contest", "SWINDON"], port: port, desk: false)
        #expect(run.output.hasPrefix("Swindon: LAB gain from CON"))
        run = try await Self.reporter(["contest", "Leicester"], port: port, desk: false)
        #expect(run.output == "Leicester: not declared yet (sequence 1)\n")
        run = try await Self.reporter(["contest", "leicestr"], port: port, desk: false)
        #expect(run.status != 0)
        #expect(run.errors.contains("unknown contest \"leicestr\"; did you mean: leicester?"))
        #expect(run.errors.contains("`reporter contests` lists every contest"))
        try await hub.stop()
    }

    /// A hub that no longer keeps every event answers with a snapshot: the listing is still complete, without the
    /// sequence numbers it cannot know, and says so.
    @Test func contestsFromASnapshotSaysWhatItCannotKnow() async throws {
        let hub = try await TestHub.start { $0.retainedEvents = 1 }
        defer { hub.removeFiles() }
        _ = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: hub.port)
        _ = try await Self.reporter(["submit", "--contest", "arun", "--seats", "LAB=54"], port: hub.port)
        var run = try await Self.reporter(["contests", "--declared", "--json"], port: hub.port, desk: false)
        let list = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [[String: Any]])
        #expect(list.map { $0["contest"] as? String } == ["arun", "swindon"])
        #expect(list.allSatisfy { $0["sequence"] is NSNull && $0["asOf"] as? Int == 2 })
        run = try await Self.reporter(["contests", "--declared"], port: hub.port, desk: false)
        #expect(run.output.contains("2 declared (sequence 2)"))
        #expect(run.output.contains("sequence numbers of earlier results are not shown"))
        try await hub.stop()
    }

    // MARK: - submit --file

    @Test func submitAFileTriesEveryLineReportsEachAndCounts() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let file = hub.directory + "/night.csv"
        // Excel's UTF-8 byte order mark, CRLF, quoted cells, a blank line, and a cell over two lines (6 and 7).
        let text =
            "contest,revision,seats,votes,turnout\r\n"
            + "\"swindon\",1,\"LAB=31,CON=22,LD=4\",,31.2\r\n"
            + "nowhere,1,LAB=1,,\r\n"
            + "\r\n"
            + "\"arun\",1,LAB=54,,\r\n"
            + "bromsgrove,1,\"CON=11;LAB=7;LD=3;GRN=2;\r\nIND=8\",,\r\n"
            + "swindon,1,LAB=30;CON=23;LD=4,,\r\n"
        try (Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)).write(to: URL(fileURLWithPath: file))

        var run = try await Self.reporter(["submit", "--file", file], port: hub.port)
        #expect(run.status == 1, "a line was rejected")
        #expect(
            Self.lines(run.output) == [
                "line 2: swindon: accepted as sequence 1, revision 1 — LAB gain from CON",
                "line 5: arun: accepted as sequence 2, revision 1 — LAB gain from NOC",
                "line 6: bromsgrove: accepted as sequence 3, revision 1 — no overall control (CON lose)",
                "3 accepted, 0 duplicates, 2 rejected",
            ])
        let errors = Self.lines(run.errors)
        #expect(errors.count == 2)
        #expect(errors.first?.hasPrefix("line 3: rejected before sending: unknown contest \"nowhere\"") == true)
        #expect(errors.last?.hasPrefix("line 8: swindon: rejected (revisionConflict)") == true)

        run = try await Self.reporter(["submit", "--file", file], port: hub.port)
        #expect(run.output.contains("line 2: swindon: already accepted as sequence 1"))
        #expect(run.output.hasSuffix("0 accepted, 3 duplicates, 2 rejected\n"))

        // JSON: an entry that does not decode is reported with its position, and the others still go.
        let json = hub.directory + "/night.json"
        try """
        [{"contest": "swindon", "seats": {"LAB": 31, "CON": 22, "LD": 4}, "turnout": 31.2},
         {"contest": 5},
         {"contest": "ipswich", "seats": {"LAB": 33, "CON": 10, "LD": 3, "IND": 2}, "turnout": 30.5}]
        """.write(toFile: json, atomically: true, encoding: .utf8)
        run = try await Self.reporter(["submit", "--file", json], port: hub.port)
        #expect(run.status == 1)
        #expect(run.output.contains("entry 1: swindon: already accepted as sequence 1"))
        #expect(run.output.contains("entry 3: ipswich: accepted as sequence 4"))
        #expect(run.errors.contains("entry 2: rejected before sending: contest:"))
        #expect(run.output.hasSuffix("1 accepted, 1 duplicate, 1 rejected\n"))

        // All accepted: exit 0.
        let good = hub.directory + "/good.csv"
        try "contest,seats\nleicester,LAB=31;CON=17;LD=3;GRN=3\n".write(toFile: good, atomically: true, encoding: .utf8)
        run = try await Self.reporter(["submit", "--file", good], port: hub.port)
        #expect(run.status == 0)
        #expect(run.output.hasSuffix("1 accepted, 0 duplicates, 0 rejected\n"))

        // A header without the columns stops before anything is sent.
        let bad = hub.directory + "/bad.csv"
        try "council,result\nswindon,LAB=57\n".write(toFile: bad, atomically: true, encoding: .utf8)
        run = try await Self.reporter(["submit", "--file", bad], port: hub.port)
        #expect(run.status != 0)
        #expect(run.errors.contains("line 1: the header needs contest and seats columns"))
        try await hub.stop()
    }

    @Test func dryRunChecksAFileAndSubmitsNothing() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        _ = try await Self.reporter(["submit", "--contest", "arun", "--seats", "LAB=54"], port: hub.port)
        let file = hub.directory + "/check.csv"
        try """
        contest,revision,seats
        swindon,1,LAB=31;CON=22;LD=4
        arun,1,LAB=54
        arun,1,LAB=53;CON=1
        ipswich,1,LAB=40
        Mayor-of-Bedford,1,CON=1
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await Self.reporter(["submit", "--file", file, "--dry-run"], port: hub.port, desk: false)
        #expect(run.status == 1)
        #expect(run.output.contains("line 2: swindon: would be accepted as revision 1 — LAB gain from CON"))
        #expect(run.output.contains("line 3: arun: the hub already has revision 1 (a duplicate; nothing would change)"))
        #expect(run.output.contains("line 6: mayor-of-bedford: would be accepted as revision 1 — CON gain from LD"))
        #expect(run.errors.contains("line 4: arun: would be rejected (revisionConflict)"))
        #expect(run.errors.contains("line 5: ipswich: would be rejected (seatsDoNotAddUp)"))
        #expect(run.output.hasSuffix("dry run: 2 would be accepted, 1 duplicate, 2 rejected; nothing was submitted\n"))
        let board = try Self.object(
            try await Self.reporter(["scoreboard", "--json"], port: hub.port, desk: false).output)
        #expect(board["sequence"] as? Int == 1, "nothing was submitted")
        try await hub.stop()
    }

    // MARK: - timeouts

    /// A port that accepts connections and never answers: every command that waits on the hub ends within its
    /// --timeout, with a message that says what it waited for.
    @Test func everyCommandGivesUpOnASilentPortWithinItsTimeout() async throws {
        let silent = try await QuietHub.start(.mute)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("timeout-\(UUID()).csv").path
        try "contest,seats\nswindon,LAB=57\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let commands: [[String]] = [
            ["scoreboard"], ["contest", "swindon"], ["contests"],
            ["submit", "--contest", "swindon", "--seats", "LAB=57"], ["submit", "--file", file],
            ["submit", "--file", file, "--dry-run"], ["withdraw", "--contest", "swindon"],
        ]
        for command in commands {
            let started = ContinuousClock.now
            let run = try await Self.reporter(command + ["--timeout", "0.5"], port: silent.port)
            #expect(ContinuousClock.now - started < .seconds(8), "\(command)")
            #expect(run.status != 0, "\(command)")
            #expect(
                run.errors.contains(
                    "no answer from the hub at 127.0.0.1:\(silent.port) within 500 ms (waiting for its answer to HELLO)"
                ),
                "\(command): \(run.errors)")
        }
        try await silent.stop()

        // A peer that completes the handshake and then never answers: bounded too.
        let stuck = try await QuietHub.start(.welcome(heartbeatMillis: 5000, answerElection: false))
        let run = try await Self.reporter(["scoreboard", "--timeout", "0.5"], port: stuck.port, desk: false)
        #expect(run.status != 0)
        #expect(run.errors.contains("within 500 ms (waiting for the ELECTION definition)"))
        try await stuck.stop()
    }

    /// A hub stopped with SIGSTOP: the connection is accepted by the kernel, and nothing answers.
    @Test func submitAgainstAPausedHubFailsWithinItsTimeout() async throws {
        let directory = try OrdinaryUser.makeDirectory("paused-hub")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await HubProcess.start(directory: directory)
        defer { hub.kill9() }
        let token = try HardeningTests.generatedToken(in: directory, desk: "national")
        let credentials = ["RESULTS_HUB_DESK": "national", "RESULTS_HUB_TOKEN": token]
        let submit = ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4", "--timeout", "1"]

        hub.signal(SIGSTOP)
        let started = ContinuousClock.now
        var run = try await Self.reporter(submit, port: hub.port, environment: credentials)
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(run.status != 0)
        #expect(
            run.errors.contains(
                "no answer from the hub at 127.0.0.1:\(hub.port) within 1 s (waiting for its answer to HELLO); is results-hub running there, and not paused?"
            ))
        hub.signal(SIGCONT)
        run = try await Self.reporter(submit, port: hub.port, environment: credentials)
        #expect(run.status == 0, "the hub answers again once it runs: \(run.errors)")
        #expect(run.output.contains("swindon: accepted as sequence 1"))
    }

    // MARK: - watch

    /// Nothing listening, then a hub, then a correction and a withdrawal, then the hub gone: the watcher says each.
    @Test func watchShowsTheConnectionStateAndMarksCorrectionsAndWithdrawals() async throws {
        let port = try freePort()
        let watcher = try Self.watcher(["watch"], port: port)
        defer { watcher.stop() }
        try await withTimeout {
            #expect(try await watcher.line { $0.hasPrefix("hub: ") }.line == "hub: connecting to 127.0.0.1:\(port) …")
            let reconnecting = try await watcher.line { $0.hasPrefix("hub: reconnecting since ") }.line
            #expect(reconnecting.contains("cannot reach the hub at 127.0.0.1:\(port): connection refused"))
        }
        let hub = try await TestHub.start(port: port)
        defer { hub.removeFiles() }
        try await withTimeout {
            _ = try await watcher.line { $0 == "hub: live" || $0.hasPrefix("hub: live at") }
            _ = try await watcher.line {
                $0 == "English local elections, 4 May 2023: 0 of 234 contests declared (sequence 0)"
            }
        }
        for arguments in [
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"],
            ["submit", "--contest", "swindon", "--seats", "LAB=30,CON=23,LD=4", "--revision", "2"],
            ["withdraw", "--contest", "swindon", "--reason", "recount"],
        ] {
            #expect(try await Self.reporter(arguments, port: port).status == 0)
        }
        try await withTimeout {
            // A declaration's line ends with its seat changes against the council's composition before.
            let first = try await watcher.line { $0.hasPrefix("Swindon: LAB gain from CON (sequence 1)") }.line
            #expect(first.hasPrefix("Swindon: LAB gain from CON (sequence 1); seats LAB +"))
            _ = try await watcher.line {
                $0.hasPrefix("Swindon: LAB gain from CON (correction, revision 2, sequence 2)")
            }
            _ = try await watcher.line {
                $0 == "Swindon: result withdrawn (withdrawal, revision 3, sequence 3): recount"
            }
            _ = try await watcher.line {
                $0 == "English local elections, 4 May 2023: 0 of 234 contests declared (sequence 3)"
            }
        }
        let seen = watcher.all.count
        try await hub.stop()
        try await withTimeout {
            let line = try await watcher.line(after: seen) { $0.hasPrefix("hub: reconnecting since ") }.line
            #expect(line.hasSuffix("; last sequence 3"))
        }
    }

    /// `reporter watch` heartbeats on a timer although the hub sends nothing, and says that the hub fell silent
    /// while keeping the connection (a hub that pauses finds its watchers still there).
    @Test func watchHeartbeatsOnATimerAndSaysWhenTheHubFallsSilent() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 100, answerElection: true))
        let watcher = try Self.watcher(["watch"], port: hub.port)
        defer { watcher.stop() }
        try await hub.wait(until: { hub.heartbeats >= 3 })
        try await withTimeout {
            _ = try await watcher.line { $0 == "hub: live" }
            _ = try await watcher.line { $0.hasPrefix("hub: no word from the hub since ") }
        }
        #expect(hub.connectionCount == 1)
        try await hub.stop()
    }

    @Test func watchARegionCountsThatRegionsContestsAndNamesIt() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let watcher = try Self.watcher(["watch", "--region", "North West"], port: hub.port)
        defer { watcher.stop() }
        try await withTimeout {
            _ = try await watcher.line {
                $0 == "English local elections, 4 May 2023, North West: 0 of 31 contests declared (sequence 0)"
            }
        }
        _ = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: hub.port)
        _ = try await Self.reporter(
            ["submit", "--contest", "bolton", "--seats", "CON=17,LAB=26,LD=6,IND=11"], port: hub.port)
        try await withTimeout {
            _ = try await watcher.line { $0.hasPrefix("Bolton: no overall control (no change) (sequence 2)") }
            _ = try await watcher.line {
                $0 == "English local elections, 4 May 2023, North West: 1 of 31 contests declared (sequence 2)"
            }
        }
        #expect(!watcher.all.contains { $0.hasPrefix("Swindon") }, "another region's result is not shown")
        try await hub.stop()
    }

    /// Stopped past the hub's retention, the watcher gets a fresh snapshot: `--json` says so with a resync line and
    /// then gives the state of every contest, so that no result is silently lost. `--initial` starts the same way.
    @Test func watchJSONResyncsAfterAGapAndInitialGivesTheStateFirst() async throws {
        let port = try freePort()
        let hub = try await TestHub.start(port: port)
        defer { hub.removeFiles() }
        _ = try await Self.reporter(["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: port)
        let watcher = try Self.watcher(["watch", "--json", "--initial"], port: port)
        defer { watcher.stop() }
        try await withTimeout {
            let lines = try await watcher.lines(count: 1 + 234)
            let resync = try Self.object(lines[0])
            #expect(resync["type"] as? String == "resync")
            #expect(resync["reason"] as? String == "initial")
            #expect(resync["sequence"] as? Int == 1)
            #expect(resync["contests"] as? Int == 234)
            let states = try lines.dropFirst().map { try Self.object($0) }
            #expect(states.allSatisfy { $0["type"] as? String == "state" })
            #expect(
                states.filter { $0["status"] as? String == "declared" }.map { $0["contest"] as? String } == ["swindon"])
            #expect(states.filter { $0["status"] as? String == "undeclared" }.count == 233)
        }
        _ = try await Self.reporter(["submit", "--contest", "arun", "--seats", "LAB=54"], port: port)
        try await withTimeout {
            let change = try Self.object(try await watcher.line(after: 235) { _ in true }.line)
            #expect(change["type"] as? String == "change")
            #expect(change["contest"] as? String == "arun")
            #expect(change["sequence"] as? Int == 2)
            #expect(change["event"] as? String == "declaration")
        }
        // The hub stops; the watcher is stopped too while the hub restarts keeping only 2 events and takes 5
        // declarations, so the watcher's resume point (2) is gone when it continues.
        try await hub.stop()
        watcher.signal(SIGSTOP)
        let restarted = try await TestHub.start(directory: hub.directory, port: port) { $0.retainedEvents = 2 }
        let slugs = ["bolton", "bromsgrove", "ipswich", "leicester", "blackburn-with-darwen"]
        try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
            _ = try await desk.submitPipelined(slugs.map { Declarations.real($0) })
        }
        let seen = watcher.all.count
        watcher.signal(SIGCONT)
        try await withTimeout {
            let (index, line) = try await watcher.line(after: seen) { $0.contains("\"type\":\"resync\"") }
            let resync = try Self.object(line)
            #expect(resync["reason"] as? String == "resumeUnavailable")
            #expect(resync["sequence"] as? Int == 7)
            #expect(resync["contests"] as? Int == 234)
            let states = try await watcher.lines(count: index + 1 + 234)[(index + 1)...].map { try Self.object($0) }
            #expect(states.allSatisfy { $0["type"] as? String == "state" && $0["asOf"] as? Int == 7 })
            let declared = Set(
                states.filter { $0["status"] as? String == "declared" }.compactMap { $0["contest"] as? String })
            #expect(declared == Set(slugs + ["swindon", "arun"]), "none of the five is lost")
        }
        try await restarted.stop()
    }

    // MARK: - mayoralties

    @Test func mayoraltiesTakeCandidateVotesShowTheWinnerAndAreWordedAsMayoralties() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let port = hub.port
        let watcher = try Self.watcher(["watch"], port: port)
        defer { watcher.stop() }
        try await withTimeout { _ = try await watcher.line { $0.contains("0 of 234 contests declared") } }

        var run = try await Self.reporter(
            [
                "submit", "--contest", "mayor-of-leicester", "--candidate-votes",
                "Peter Soulsby=35002,modhwadia=26422,LD=9674,Rita Patel=7966,Lewis=7808,TUSC=2173", "--turnout", "36.5",
            ], port: port)
        #expect(run.status == 0, "\(run.errors)")
        #expect(
            run.output == "mayor-of-leicester: accepted as sequence 1, revision 1 — LAB hold; Peter Soulsby elected\n")

        run = try await Self.reporter(["contest", "mayor-of-leicester"], port: port, desk: false)
        #expect(run.output.hasPrefix("Mayor of Leicester: LAB hold; Peter Soulsby elected (revision 1"))
        #expect(run.output.contains("Peter Soulsby      LAB   35002"))
        let json = try Self.object(
            try await Self.reporter(["contest", "mayor-of-leicester", "--json"], port: port, desk: false).output)
        #expect(json["winner"] as? String == "Peter Soulsby")
        let candidates = try #require(json["candidateVotes"] as? [[String: Any]])
        #expect(candidates.count == 6)
        #expect(candidates.first?["votes"] as? Int == 35002)
        try await withTimeout {
            _ = try await watcher.line { $0 == "Mayor of Leicester: LAB hold; Peter Soulsby elected (sequence 1)" }
        }

        // A one-candidate party names the winner without votes.
        run = try await Self.reporter(["submit", "--contest", "mayor-of-bedford", "--seats", "CON=1"], port: port)
        #expect(run.output.hasSuffix("CON gain from LD; Tom Wootton elected\n"))

        // Mayoral messages, never "the council has 1 seats".
        run = try await Self.reporter(["submit", "--contest", "mayor-of-mansfield", "--seats", "LAB=2"], port: port)
        #expect(run.status != 0)
        #expect(run.errors.contains("Mayor of Mansfield is a mayoralty with one winner"))
        #expect(!run.errors.contains("council"))
        run = try await Self.reporter(
            ["submit", "--contest", "mayor-of-mansfield", "--seats", "LAB=1,CON=1"], port: port)
        #expect(run.errors.contains("is a mayoralty with one winner"))
        run = try await Self.reporter(
            ["submit", "--contest", "mayor-of-middlesbrough", "--candidate-votes", "IND=10"], port: port)
        #expect(run.errors.contains("\"IND\" could be Andy Preston or Jon Rathmell; give the full name"))
        run = try await Self.reporter(
            ["submit", "--contest", "mayor-of-middlesbrough", "--candidate-votes", "Cooke=10956,Preston=10196"],
            port: port)
        #expect(run.errors.contains("give every candidate's votes; missing: Jon Rathmell, John Cooper"))
        run = try await Self.reporter(
            [
                "submit", "--contest", "mayor-of-middlesbrough", "--seats", "IND=1", "--candidate-votes",
                "Cooke=10956,Preston=10196,Rathmell=3102,Cooper=2997",
            ], port: port)
        #expect(run.status == 1)
        #expect(run.errors.contains("the seat is given to IND, but the most votes went to LAB"))
        run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=57", "--candidate-votes", "x=1"], port: port)
        #expect(run.errors.contains("swindon is a council: candidate votes are for mayoralties"))
        try await hub.stop()
    }

    // MARK: - consistency

    @Test func withdrawTwiceChangesNothingAndSaysSo() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        _ = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: hub.port)
        var run = try await Self.reporter(["withdraw", "--contest", "swindon", "--reason", "recount"], port: hub.port)
        #expect(run.output == "swindon: accepted as sequence 2, revision 2 — result withdrawn\n")
        run = try await Self.reporter(["withdraw", "--contest", "Swindon"], port: hub.port)
        #expect(run.status == 0)
        #expect(
            run.output == "swindon: already withdrawn as sequence 2, revision 2 (reason: recount); nothing changed\n")
        run = try await Self.reporter(
            ["withdraw", "--contest", "swindon", "--reason", "recount", "--revision", "2"], port: hub.port)
        #expect(run.status == 0)
        #expect(run.output.contains("already withdrawn as sequence 2"))
        let board = try Self.object(
            try await Self.reporter(["scoreboard", "--json"], port: hub.port, desk: false).output)
        #expect(board["sequence"] as? Int == 2)
        // Nothing declared: still a rejection.
        run = try await Self.reporter(["withdraw", "--contest", "arun"], port: hub.port)
        #expect(run.status == 1)
        #expect(run.errors.contains("nothingToWithdraw"))
        try await hub.stop()
    }

    @Test func anAuthenticationFailureReadsTheSameInEveryCommand() async throws {
        let hub = try await TestHub.start {
            $0.subscriberKeys = try! SubscriberKeys(entries: [.init(name: "graphics", key: Self.subscriberKey)])
        }
        defer { hub.removeFiles() }
        let expected =
            "Error: the hub at 127.0.0.1:\(hub.port) refused the desk id and token, or subscriber name and key (authentication failed)\n"
        let wrongKey = ["--subscriber", "graphics", "--key", "not-the-key-0123456789"]
        let wrongToken = ["RESULTS_HUB_TOKEN": "not-the-token-0123456789"]
        let runs = [
            try await Self.reporter(["scoreboard"] + wrongKey, port: hub.port, desk: false),
            try await Self.reporter(["contest", "swindon"] + wrongKey, port: hub.port, desk: false),
            try await Self.reporter(["contests"] + wrongKey, port: hub.port, desk: false),
            try await Self.reporter(["watch"] + wrongKey, port: hub.port, desk: false),
            try await Self.reporter(["watch", "--region", "north-west"] + wrongKey, port: hub.port, desk: false),
            try await Self.reporter(
                ["submit", "--contest", "swindon", "--seats", "LAB=57"], port: hub.port, environment: wrongToken),
            try await Self.reporter(["withdraw", "--contest", "swindon"], port: hub.port, environment: wrongToken),
            try await Self.reporter(["scoreboard"], port: hub.port, environment: wrongToken),
        ]
        for run in runs {
            #expect(run.status != 0)
            #expect(run.errors == expected)
        }
        // The right key works.
        let good = try await Self.reporter(
            ["scoreboard", "--subscriber", "graphics", "--key", Self.subscriberKey], port: hub.port, desk: false)
        #expect(good.status == 0)
        try await hub.stop()
    }

    @Test func aUsageErrorPrintsTheSubcommandsUsage() async throws {
        let cases: [([String], String)] = [
            (["submit"], "reporter submit"),
            (["submit", "--contest", "swindon", "--seats", "LAB=57", "--hub", "[::1]:99999"], "reporter submit"),
            (["submit", "--contest", "swindon", "--seats", "LAB=57", "--hub", "127.0.0.1:99999"], "reporter submit"),
            (["submit", "--contest", "swindon", "--seats", "LAB=57", "--desk", "x"], "reporter submit"),
            (["withdraw", "--contest", "swindon"], "reporter withdraw"),
            (["contest"], "reporter contest"),
            (["scoreboard", "--timeout", "0"], "reporter scoreboard"),
            (["watch", "--hub", "nowhere:"], "reporter watch"),
        ]
        for (arguments, usage) in cases {
            let run = try await CommandRun.run(Self.binary, arguments, environment: Self.environment(desk: false))
            #expect(run.status == 64, "\(arguments)")
            #expect(run.errors.contains("Usage: \(usage)"), "\(arguments): \(run.errors)")
            #expect(!run.errors.contains("<subcommand>"), "\(arguments)")
        }
        let ipv6 = try await CommandRun.run(
            Self.binary, ["scoreboard", "--hub", "[::1]:99999"], environment: Self.environment(desk: false))
        let ipv4 = try await CommandRun.run(
            Self.binary, ["scoreboard", "--hub", "127.0.0.1:99999"], environment: Self.environment(desk: false))
        #expect(ipv6.errors.contains("is not HOST:PORT or [IPv6]:PORT with a port from 1 to 65535"))
        #expect(ipv4.errors.contains("is not HOST:PORT or [IPv6]:PORT with a port from 1 to 65535"))
    }

    /// `contest --json` has the same keys whether declared, undeclared or withdrawn; a withdrawal's time is
    /// `withdrawnAt`, not `declaredAt`.
    @Test func contestJSONHasOneShape() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let port = hub.port
        _ = try await Self.reporter(["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: port)
        _ = try await Self.reporter(["submit", "--contest", "arun", "--seats", "LAB=54"], port: port)
        _ = try await Self.reporter(["withdraw", "--contest", "arun", "--reason", "recount"], port: port)
        let declared = try Self.object(try await Self.reporter(["contest", "swindon", "--json"], port: port).output)
        let undeclared = try Self.object(try await Self.reporter(["contest", "ipswich", "--json"], port: port).output)
        let withdrawn = try Self.object(try await Self.reporter(["contest", "arun", "--json"], port: port).output)
        #expect(Set(declared.keys) == Set(undeclared.keys))
        #expect(Set(declared.keys) == Set(withdrawn.keys))
        #expect(declared["status"] as? String == "declared")
        #expect(declared["control"] as? String == "LAB")
        #expect(declared["declaredAt"] is Int)
        #expect(declared["withdrawnAt"] is NSNull)
        #expect(undeclared["status"] as? String == "undeclared")
        #expect(undeclared["revision"] is NSNull)
        #expect(undeclared["asOf"] as? Int == 3)
        #expect(withdrawn["status"] as? String == "withdrawn")
        #expect(withdrawn["event"] as? String == "withdrawal")
        #expect(withdrawn["declaredAt"] is NSNull)
        #expect(withdrawn["withdrawnAt"] is Int)
        #expect(withdrawn["reason"] as? String == "recount")
        try await hub.stop()
    }
}
