import Foundation
import Testing
import PlazaFleetModel
import PlazaFleet
import PlazaTesting

/// The `local` provider on its own: real processes in their own sessions, launched once per id, listed while they
/// run, given their id and the extra environment `plaza serve --pools` hands on, stopped by a SIGTERM they can
/// handle (whatever this process does with its signals), and only the newest `keepLogs` logs of stopped
/// instances kept.
@Suite struct LocalProviderTests {
    @Test func processesAreLaunchedOnceListedStoppedAndTheirLogsBounded() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-local-\(UUID().uuidString)")
        let children = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-local-children-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: children, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder); try? FileManager.default.removeItem(at: children) }
        // Each instance starts a child of its own (as `plaza janus` starts Janus), whose pid it leaves in `children`.
        let settings = LocalProviderSettings(
            executable: "/bin/sh",
            arguments: [
                "-c",
                #"trap 'echo "stopped by TERM"; exit 0' TERM; echo "started $PLAZA_INSTANCE_ID of {pool} with $HANDED_ON"; sleep 60 & echo $! > "$CHILDREN/$PLAZA_INSTANCE_ID"; wait"#,
            ],
            stopTimeout: 30, keepLogs: 1)
        let pool = PoolConfiguration(name: "workers", kind: .custom, min: 0, max: 3, provider: .local(settings))
        let provider = LocalProvider(
            settings: settings, pool: pool, directory: folder, store: "sqlite:/nowhere",
            environment: ["HANDED_ON": "the secret", "CHILDREN": children.path])

        for (index, id) in (["w-a", "w-b", "w-c"] as [InstanceID]).enumerated() {
            try await provider.launch(LaunchRequest(id: id, capacity: index + 1))
        }
        try await provider.launch(LaunchRequest(id: "w-a", capacity: 3))  // again, after a crash: nothing new
        #expect(try await provider.list().map(\.id) == ["w-a", "w-b", "w-c"])
        let log = folder.appendingPathComponent("w-a.log")
        #expect(try await eventually { (try? String(contentsOf: log, encoding: .utf8)) == "started w-a of workers with the secret\n" })

        var childPids: [Int32] = []
        for id in ["w-a", "w-b", "w-c"] {
            let file = children.appendingPathComponent(id)
            func pid() -> Int32? {
                (try? String(contentsOf: file, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            #expect(try await eventually { pid() != nil })
            let child = try #require(pid())
            #expect(FileManager.default.fileExists(atPath: "/proc/\(child)"), "the child runs before its instance stops")
            childPids.append(child)
        }
        for id: InstanceID in ["w-a", "w-b", "w-c"] {
            try await provider.terminate(id)
            try await Task.sleep(for: .milliseconds(20))  // distinct modification times for the logs' order
        }
        #expect(try await provider.list().isEmpty)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == ["w-c.log"], "the newest stopped instance's log only")
        // Stopped gracefully: the instance got SIGTERM and acted on it (spawned with this thread's blocked
        // signals, it would never see it and only the SIGKILL after stopTimeout would end it).
        let last = try String(contentsOf: folder.appendingPathComponent("w-c.log"), encoding: .utf8)
        #expect(last == "started w-c of workers with the secret\nstopped by TERM\n")
        // The whole process group was told: what an instance started stopped with it.
        for pid in childPids {
            #expect(try await eventually { !isRunning(pid) }, "child \(pid) still runs")
        }
    }

    @Test func whatAnInstanceThatWasKilledLeftRunningIsStoppedWhenTheProviderLists() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-local-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let settings = LocalProviderSettings(
            executable: "/bin/sh", arguments: ["-c", #"sleep 60 & echo $! > "$0.child"; wait"#, "\(folder.path)/w-k"], stopTimeout: 5)
        let pool = PoolConfiguration(name: "workers", kind: .custom, min: 0, max: 1, provider: .local(settings))
        let provider = LocalProvider(settings: settings, pool: pool, directory: folder, store: "sqlite:/nowhere")
        try await provider.launch(LaunchRequest(id: "w-k", capacity: 1))
        func read(_ name: String) -> String? { try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8) }
        #expect(try await eventually { read("w-k.child") != nil })
        let child = try #require(Int32(read("w-k.child")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(FileManager.default.fileExists(atPath: "/proc/\(child)"))
        let leader = try #require(
            (try JSONSerialization.jsonObject(with: Data((read("w-k.json") ?? "{}").utf8)) as? [String: Any])?["pid"] as? Int)
        // The instance dies alone, as a crash: its child runs on in the instance's process group.
        kill(Int32(leader), SIGKILL)
        #expect(try await eventually { try await provider.list().isEmpty })
        // Listed every pass, as the autoscaler does: what was left behind is gone by the next one at the latest.
        #expect(try await eventually { _ = try await provider.list(); return !isRunning(child) }, "the child was left running")
        #expect(read("w-k.json") == nil, "a crashed instance, once its group is stopped, is forgotten")
    }
}

/// Whether a process runs: it exists and is not a zombie. (An orphan killed here is reaped by whatever adopted it,
/// which on a container without an init may be never: it then stays in /proc as a zombie.)
private func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let state = stat.split(separator: ")").last?.split(separator: " ").first
    else { return false }
    return state != "Z" && state != "X"
}
