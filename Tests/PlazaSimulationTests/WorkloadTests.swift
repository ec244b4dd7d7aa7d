import Foundation
import Testing
@testable import PlazaSimulation

/// Workloads: trace files read as documented, with the line at fault when they cannot be; the synthetic week
/// meets its parameters within sampling error and is the same, to the byte, for the same seed.
@Suite struct TraceTests {
    @Test func conferencesAreReadFromSecondsOrDateTimes() throws {
        let seconds = try Workload.trace(
            """
            # a comment
            start,end,participants,region,recorded
            0,3600,4,eu,false
            1800,5400,12,us,true
            """)
        #expect(seconds.conferences == [
            SimulatedConference(start: 0, end: 3600, participants: 4, region: "eu"),
            SimulatedConference(start: 1800, end: 5400, participants: 12, region: "us", recorded: true),
        ])
        #expect(seconds.duration == 5400)
        let dates = try Workload.trace(
            """
            participants,start,end
            3,2026-03-02T09:00:00Z,2026-03-02T09:45:00Z
            2,2026-03-03T10:00:00+01:00,2026-03-03T10:30:00+01:00
            """, duration: 7 * 86_400)
        let starts: [Double] = [32_400, 118_800]  // 09:00 UTC on the first day and on the next
        #expect(dates.conferences.map(\.start) == starts, "from midnight UTC of the first day")
        #expect(dates.conferences.map(\.region) == ["default", "default"] && dates.duration == 7 * 86_400)
    }

    @Test func spreadsheetExportsAreRead() throws {
        let workload = try Workload.trace("\u{FEFF}start,end,participants,region,\r\n0,60,2,eu,\r\n30,90,3,,\r\n")
        #expect(workload.conferences.map(\.region) == ["eu", "default"])
        #expect(workload.conferences.map(\.participants) == [2, 3])
    }

    @Test func participantRowsMakeConferencesOfTheirPeak() throws {
        let workload = try Workload.trace(
            """
            conference,join,leave,recorded
            standup,0,900,yes
            standup,60,900,
            standup,900,1200,
            review,100,200,
            """)
        #expect(workload.conferences == [
            SimulatedConference(start: 0, end: 1200, participants: 2, recorded: true),
            SimulatedConference(start: 100, end: 200, participants: 1),
        ])
    }

    @Test(arguments: [
        ("", "line 1: empty: a header line is needed"),
        ("start,end\n0,10", "line 1: the header has no 'participants' column (it needs start, end, participants)"),
        ("start,end,participants,room\n0,10,2,a", "line 1: unknown column 'room'"),
        ("start,end,participants\n0,10", "line 2: 2 fields where the header names 3"),
        ("start,end,participants\n0,10,2\n10,5,2", "line 3: 'end' must be after 'start'"),
        ("start,end,participants\n0,10,0", "line 2: 'participants' must be an integer ≥ 1"),
        ("start,end,participants\nnoon,10,2", "line 2: 'start' must be seconds or an ISO 8601 date-time"),
        ("start,end,participants,recorded\n0,10,2,maybe", "line 2: 'recorded' must be true or false, not 'maybe'"),
        ("conference,join,leave\na,5,5", "line 2: 'leave' must be after 'join'"),
        ("start,end,participants\n0,10,2\n2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,2",
         "line 3: 'start' mixes seconds and date-times: a trace uses one or the other"),
    ])
    func badTracesNameTheirLine(text: String, message: String) {
        #expect(throws: TraceError.self) { try Workload.trace(text) }
        do { _ = try Workload.trace(text) } catch { #expect(error.description == message) }
    }

    @Test func aWorkloadIsItsOwnTrace() throws {
        let workload = Workload(
            conferences: [
                SimulatedConference(start: 0.25, end: 3600, participants: 4, region: "eu"),
                SimulatedConference(start: 61.5, end: 5400.125, participants: 30, region: "ap", recorded: true),
            ], duration: 7200)
        #expect(try Workload.trace(workload.csv, duration: 7200) == workload)
        #expect(Workload.format(1.5) == "1.5" && Workload.format(2) == "2" && Workload.format(0.0004) == "0")
    }
}

@Suite struct SyntheticWeekTests {
    static let week = SyntheticWeek(users: 20_000, seed: 7).generate()

    @Test func itsTotalsMeetItsParameters() {
        let parameters = SyntheticWeek(users: 20_000, seed: 7)
        let conferences = Self.week.conferences
        let sizes = conferences.map { Double($0.participants) }
        let meanSize = sizes.reduce(0, +) / Double(sizes.count)
        #expect(abs(meanSize / parameters.meanSize - 1) < 0.05, "mean size \(meanSize)")
        #expect(abs(meanSize - 10) < 0.6, "about 10 participants: \(meanSize)")
        let small = Double(conferences.filter { (2...4).contains($0.participants) }.count) / Double(conferences.count)
        #expect(abs(small - parameters.smallShare) < 0.02, "most meetings of two to four: \(small)")
        let minutes = conferences.map { ($0.end - $0.start) / 60 }.reduce(0, +) / Double(conferences.count)
        #expect(abs(minutes / parameters.meanDurationMinutes - 1) < 0.03, "mean duration \(minutes) min")
        // Each user's meetings: five weekdays at the full rate, two weekend days at the weekend factor.
        let perUser = sizes.reduce(0, +) / Double(parameters.users)
        let expected = parameters.meetingsPerUserDay * (5 + 2 * parameters.weekendFactor)
        #expect(abs(perUser / expected - 1) < 0.05, "meetings per user and week \(perUser), expected \(expected)")
        let recorded = Double(conferences.filter(\.recorded).count) / Double(conferences.count)
        #expect(abs(recorded - parameters.recordedShare) < 0.01)
        #expect(conferences.allSatisfy { $0.participants >= 2 && $0.participants <= parameters.largestMeeting })
        #expect(Set(conferences.map(\.region)) == ["eu", "us", "ap"])
    }

    @Test func theSameSeedGivesTheSameWeekToTheByte() {
        let again = SyntheticWeek(users: 20_000, seed: 7).generate()
        #expect(again == Self.week)
        #expect(Data(again.csv.utf8) == Data(Self.week.csv.utf8))
        #expect(SyntheticWeek(users: 20_000, seed: 8).generate() != Self.week)
    }

    @Test func meetingsFollowTheWorkingDay() {
        let week = SyntheticWeek(users: 10_000)
        let europe = SyntheticWeek.Region(name: "eu", utcOffset: 1, share: 1)
        // Monday 10:00 in Europe (09:00 UTC) against Monday 03:00 there, and Saturday 10:00.
        let monday10 = week.arrivalRate(of: europe, at: 9 * 3600)
        #expect(monday10 > 20 * week.arrivalRate(of: europe, at: 2 * 3600))
        #expect(abs(week.arrivalRate(of: europe, at: 5 * 86_400 + 9 * 3600) / monday10 - week.weekendFactor) < 1e-9)
    }
}
