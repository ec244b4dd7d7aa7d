import Testing
import PlazaTesting
import PlazaBench

/// The fault drills of `plaza bench drill` with short timings, against real processes and a PostgreSQL server of
/// their own: the database down and hung, a node cut off from it, clocks 30 s off, a rolling restart. Each checks
/// what clients, directories and nodes answered meanwhile, and that nothing acknowledged was lost or stored twice.
/// And the autoscaler's leader killed in the middle of scale-outs (`plaza bench leader-failover`).
@Suite(.serialized) struct FleetFaultTests {
    /// The fleet tests' heartbeat timings, and a store deadline to match them.
    static let timings = FleetProcessTests.fastTimings.merging(["PLAZA_LIMITS_STORE_TIMEOUT": "1"]) { $1 }

    static func drill(_ fault: FaultDrill.Fault, seconds: Double = 8) async throws -> FaultDrill.Report {
        var drill = FaultDrill(executable: try PlazaExecutable.path(), fault: fault)
        drill.environment = timings
        drill.faultSeconds = seconds
        drill.recoveryTimeout = 30
        let report = try await drill.run(log: { _ in })
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.acknowledged >= 200, "the writers kept writing: \(report.acknowledged)")
        #expect(report.lost == 0 && report.duplicated == 0, "lost \(report.lost), duplicated \(report.duplicated)")
        for (target, answers) in report.during.merging(report.after, uniquingKeysWith: { $0.merging($1, uniquingKeysWith: +) }) {
            #expect(!answers.keys.contains { $0.contains("node_full") }, "\(target) answered node_full: \(answers)")
        }
        return report
    }

    /// What a fleet must do while its database cannot answer, stopped or hung alike.
    static func expectRidesOutAStoreOutage(_ report: FaultDrill.Report) {
        #expect((report.errors["store_unavailable"] ?? 0) > 0, "chat answered errors, not silence: \(report.errors)")
        #expect(report.closes[4003] == nil, "no room was given up while the store was down for everyone: \(report.closes)")
        #expect(report.movedRooms == 0)
        #expect(report.longestMovesGap < 2, "moves went on: longest gap \(report.longestMovesGap) s")
        #expect(report.during["directory-0.join"]?["503 store_unavailable retry-after"] != nil, "\(report.during)")
        #expect(report.during["directory-0.readyz"]?["503 store_unavailable retry-after"] != nil, "\(report.during)")
        #expect(report.during["node-0.readyz"]?["503 store_unavailable retry-after"] != nil, "\(report.during)")
        #expect(report.recoverySeconds < 10, "chat resumed after \(report.recoverySeconds) s; \(report.slowestWriter)")
        #expect(report.after["directory-0.join"]?["200"] != nil, "joins are placed again: \(report.after)")
    }

    @Test func aStoppedDatabaseGetsErrorsAndRetryAfterNotSilenceAndLosesNothing() async throws {
        Self.expectRidesOutAStoreOutage(try await Self.drill(.storeDown))
    }

    @Test func aHungDatabaseIsTimedOutLikeAStoppedOne() async throws {
        Self.expectRidesOutAStoreOutage(try await Self.drill(.storeHung))
    }

    @Test func aNodeCutOffFromTheDatabaseSendsItsClientsAwayAndTheRoomsGoOnElsewhere() async throws {
        let report = try await Self.drill(.partition)
        #expect((report.closes[4003] ?? 0) >= 1, "clients were sent away with 4003: \(report.closes)")
        #expect(report.movedRooms == 4, "every room moved off the cut-off node")
        // A lease (2.5 s), then a join that may still name the cut-off node for a heartbeat TTL (2.5 s), and a
        // rejoin; with room for a busy machine.
        #expect(report.longestAckGap < 10, "served elsewhere: \(report.longestAckGap) s; \(report.slowestWriter)")
        #expect(report.during["node-0.readyz"]?["503 store_unavailable retry-after"] != nil, "\(report.during)")
        #expect(report.during["node-1.readyz"].map { Set($0.keys) } == ["200"], "\(report.during)")
        #expect(report.during["directory-0.join"].map { Set($0.keys) } == ["200"], "\(report.during)")
    }

    @Test func clocksThirtySecondsOffKeepLeasesOnTheDatabasesClock() async throws {
        let report = try await Self.drill(.clockSkew)
        // The node ahead wrote its leases on the database's clock: frozen, its rooms are placed again after a
        // lease (2.5 s), not a lease and the 30 s its clock is ahead; never before it froze.
        #expect(report.replacedAfter > 0 && report.replacedAfter < 6, "placed again \(report.replacedAfter) s after the freeze")
        #expect(report.interruptions.allSatisfy { $0 < 10 }, "\(report.interruptions)")
        #expect(report.movedRooms == 4)
        // The directory ahead and the node behind see the fleet as it is: every new room placed.
        #expect(report.during["directory-1.join"].map { Set($0.keys) } == ["200"], "\(report.during)")
        #expect(report.refusedJoins.isEmpty, "\(report.refusedJoins)")
    }

    @Test func aRollingRestartSendsNoJoinToAStoppingNodeAndInterruptsBriefly() async throws {
        let report = try await Self.drill(.rollingRestart)
        #expect(report.interruptions.count == 3)
        #expect(report.unreachableHomes == 0, "no join named a node that had stopped")
        #expect(report.interruptions.allSatisfy { $0 < 2 }, "per stop: \(report.interruptions); \(report.slowestWriter)")
        #expect(report.refusedJoins.isEmpty, "\(report.refusedJoins)")
    }

    @Test func killingTheAutoscalersLeaderInTheMiddleOfScaleOutsLaunchesNothingTwice() async throws {
        var drill = LeaderFailoverDrill(executable: try PlazaExecutable.path())
        drill.cycles = 3
        let report = try await drill.run(log: { _ in })
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.killedMidway == 3, "each leader died with its scale-out half done")
        #expect(report.running == report.desired && report.extra == 0, "\(report.launches) launched for \(report.desired)")
        #expect(report.completedAfter.allSatisfy { $0 < 15 }, "the standby finished each scale-out: \(report.completedAfter)")
    }
}
