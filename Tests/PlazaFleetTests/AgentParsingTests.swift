import Foundation
import Testing
import PlazaFleetModel
import PlazaFleet
import PlazaPlacement
import PlazaStore

/// The shapes of the media servers' APIs the agent reads, across versions (docs/autoscaling.md lists them).
struct AgentParsingTests {
    @Test func bridgeStatsOfOlderBridgesRead() throws {
        // Before `endpoints` and `stress_level` (the 2019 example of doc/statistics.md): participants, no stress.
        let older = try #require(MediaAgent.bridgeReport(Data(
            #"{"bit_rate_download":0,"bit_rate_upload":800,"conferences":2,"graceful_shutdown":false,"largest_conference":4,"participants":6,"region":"eu-west-1","threads":59,"videochannels":0}"#.utf8)))
        #expect(older == NodeReport(state: .serving, connections: 6, rooms: 2, participants: 6, cpu: 0, bytesOutPerSecond: 100_000, largestRoom: 4))
        // The oldest REST API gave numbers as strings.
        let oldest = try #require(MediaAgent.bridgeReport(Data(#"{"bit_rate_upload":"80","conferences":"1","participants":"3","graceful_shutdown":"true"}"#.utf8)))
        #expect(oldest.participants == 3 && oldest.rooms == 1 && oldest.bytesOutPerSecond == 10_000 && oldest.state == .draining)
        // Drain mode alone also counts as draining.
        #expect(MediaAgent.bridgeReport(Data(#"{"endpoints":1,"drain":true}"#.utf8))?.state == .draining)
        #expect(MediaAgent.bridgeReport(Data("not json".utf8)) == nil)
    }

    @Test func recorderHealthShapes() throws {
        let busy = try #require(MediaAgent.recorderHealth(Data(#"{"status":{"busyStatus":"BUSY","health":{"healthStatus":"HEALTHY","details":{}}}}"#.utf8)))
        #expect(busy.healthy && busy.report.participants == 1 && busy.report.rooms == 1)
        let expired = try #require(MediaAgent.recorderHealth(Data(#"{"status":{"busyStatus":"EXPIRED","health":{"healthStatus":"HEALTHY"}}}"#.utf8)))
        #expect(!expired.healthy && expired.problem == "busyStatus EXPIRED")
        let older = try #require(MediaAgent.recorderHealth(Data(#"{"busy":false}"#.utf8)))
        #expect(older.healthy && older.report.participants == 0)
        #expect(MediaAgent.recorderHealth(Data(#"{"status":{}}"#.utf8)) == nil)
    }
}
