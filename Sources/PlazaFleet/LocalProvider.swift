public import PlazaFleetModel
public import Foundation
import PlazaWebSocketClient
#if canImport(Glibc)
import Glibc
#endif

/// A pool's `local` provider settings: which command each instance runs.
public struct LocalProviderSettings: Codable, Sendable, Equatable {
    /// The program; default this `plaza` executable.
    public var executable: String?
    /// Its arguments, with `{id}`, `{pool}`, `{region}`, `{port}` (a free loopback port) and `{store}` (the
    /// autoscaler's store URL) replaced. Default for a room-server pool: `node --store {store} --node-id {id}
    /// --region {region} --port {port} --public-url http://127.0.0.1:{port}`; for a janus pool: `janus --store
    /// {store} --instance-id {id} --region {region} --port {port} --public-url ws://127.0.0.1:{port}`.
    public var arguments: [String]?
    /// Added to the autoscaler's own environment (which the instances inherit, `PLAZA_AUTH_SECRET` included).
    public var environment: [String: String]
    /// Seconds between SIGTERM and SIGKILL when an instance is terminated.
    public var stopTimeout: Double
    /// Logs of stopped instances kept (the newest), so the folder does not grow with every launch.
    public var keepLogs: Int

    public init(
        executable: String? = nil, arguments: [String]? = nil, environment: [String: String] = [:], stopTimeout: Double = 30,
        keepLogs: Int = 20
    ) {
        (self.executable, self.arguments, self.environment) = (executable, arguments, environment)
        (self.stopTimeout, self.keepLogs) = (stopTimeout, keepLogs)
    }

    enum CodingKeys: String, CodingKey { case executable, arguments, environment, stopTimeout, keepLogs }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            executable: try c.decodeIfPresent(String.self, forKey: .executable),
            arguments: try c.decodeIfPresent([String].self, forKey: .arguments),
            environment: try c.decodeIfPresent([String: String].self, forKey: .environment) ?? [:],
            stopTimeout: try c.decodeIfPresent(Double.self, forKey: .stopTimeout) ?? 30,
            keepLogs: try c.decodeIfPresent(Int.self, forKey: .keepLogs) ?? 20)
        guard keepLogs >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .keepLogs, in: c, debugDescription: "needs keepLogs ≥ 0")
        }
    }

    static let roomServerArguments = [
        "node", "--store", "{store}", "--node-id", "{id}", "--region", "{region}", "--port", "{port}",
        "--public-url", "http://127.0.0.1:{port}",
    ]

    /// A Janus pool's: `plaza janus`, its WebSocket API on `{port}`.
    static let janusArguments = [
        "janus", "--store", "{store}", "--instance-id", "{id}", "--region", "{region}", "--port", "{port}",
        "--public-url", "ws://127.0.0.1:{port}",
    ]

    /// The arguments of an instance of `kind` when the pool names none.
    static func defaultArguments(_ kind: NodeKind) -> [String] {
        switch kind {
        case .roomServer: roomServerArguments
        case .janus: janusArguments
        default: []
        }
    }
}

/// Instances as processes on this machine: what makes autoscaling visible on a laptop.
///
/// Each instance is a process in its own session (so it outlives the autoscaler, and a successor adopts it),
/// with its output in `<directory>/<id>.log` and its pid in `<directory>/<id>.json`. The pid file is written
/// right after the spawn and names the process's start time too, so a recycled pid is never taken for it.
public struct LocalProvider: InstanceProvider {
    let settings: LocalProviderSettings
    let pool: PoolConfiguration
    /// Where pid files and logs go: one directory per pool.
    let directory: URL
    let store: String
    /// Added to this process's environment for every instance, before the pool's own `environment`.
    let environment: [String: String]

    public init(
        settings: LocalProviderSettings, pool: PoolConfiguration, directory: URL, store: String, environment: [String: String] = [:]
    ) {
        (self.settings, self.pool, self.directory, self.store) = (settings, pool, directory, store)
        self.environment = environment
    }

    struct PidFile: Codable {
        var id: InstanceID
        var pid: Int32
        /// Field 22 of `/proc/<pid>/stat`: the process's start time in clock ticks since boot.
        var startTime: UInt64
    }

    public func launch(_ request: LaunchRequest) async throws {
        if let running = readPidFile(request.id), isRunning(running) { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A launch marker without a pid file: the autoscaler died between the spawn and the pid file. Adopt the
        // process if it runs (only then is /proc searched).
        let marker = directory.appendingPathComponent("\(request.id).launching")
        if FileManager.default.fileExists(atPath: marker.path), let pid = Self.process(withInstanceID: request.id),
            let started = Self.startTime(of: pid)
        {
            try JSONEncoder().encode(PidFile(id: request.id, pid: pid, startTime: started)).write(to: pidFileURL(request.id), options: .atomic)
            try? FileManager.default.removeItem(at: marker)
            return
        }
        _ = FileManager.default.createFile(atPath: marker.path, contents: nil)
        let port = try LoopbackPort.free()
        let values = ["id": request.id.rawValue, "pool": pool.name.rawValue, "region": pool.region, "port": String(port), "store": store]
        let template = settings.arguments ?? LocalProviderSettings.defaultArguments(pool.kind)
        let arguments = template.map { substitute($0, values) }
        let executable = try settings.executable ?? Self.ownExecutable()
        var environment = ProcessInfo.processInfo.environment.merging(self.environment) { $1 }
        for (key, value) in settings.environment { environment[key] = substitute(value, values) }
        environment["PLAZA_INSTANCE_ID"] = request.id.rawValue
        environment["PLAZA_POOL"] = pool.name.rawValue
        let log = directory.appendingPathComponent("\(request.id).log").path
        let pid = try Self.spawn(executable, arguments, environment: environment, log: log)
        let file = PidFile(id: request.id, pid: pid, startTime: Self.startTime(of: pid) ?? 0)
        try JSONEncoder().encode(file).write(to: pidFileURL(request.id), options: .atomic)
        try? FileManager.default.removeItem(at: marker)
    }

    public func terminate(_ id: InstanceID) async throws {
        guard let file = readPidFile(id) else { return removeOldLogs() }
        guard isRunning(file) else {
            _ = forgetIfGone(file)
            return
        }
        defer {
            // The leader gone, what of its group is still stopping is stopped too, then the instance forgotten.
            if !isRunning(file) { _ = forgetIfGone(file) }
        }
        // The instance's process group (its own session): what it started (`plaza janus`'s Janus) stops with it.
        signal(file.pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(settings.stopTimeout)
        while isRunning(file), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        if isRunning(file) {
            signal(file.pid, SIGKILL)
            // A process stuck in the kernel (uninterruptible I/O) may outlive even SIGKILL for a while: give up
            // after another stopTimeout, so the pass goes on, and terminate again next period.
            let killDeadline = ContinuousClock.now + .seconds(settings.stopTimeout)
            while isRunning(file), ContinuousClock.now < killDeadline { try await Task.sleep(for: .milliseconds(20)) }
            if isRunning(file) { throw ProviderError("\(id) (pid \(file.pid)) has not exited \(settings.stopTimeout) s after SIGKILL") }
        }
    }

    public func list() async throws -> [ProviderInstance] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            guard let file = readPidFile(InstanceID(String(name.dropLast(".json".count)))) else { return nil }
            guard isRunning(file) else {
                _ = forgetIfGone(file)
                return nil
            }
            return ProviderInstance(id: file.id)
        }
    }

    /// Kills what an instance that died (a SIGKILL, a crash) left running in its process group (`plaza janus`'s
    /// Janus). Only while no process has the instance's pid: a group outlives its leader, and its id is not given to
    /// a new process while it has members, so the group is the instance's.
    /// Once that is done, the instance's pid file goes (and its log joins the stopped ones'), so a crashed
    /// instance is not looked at again every pass; false while its pid still answers (tried again next time).
    private func forgetIfGone(_ file: PidFile) -> Bool {
        // Reaped first: an instance that died since `isRunning` looked is a zombie of ours until then, and its pid
        // would still answer.
        var status: Int32 = 0
        _ = waitpid(file.pid, &status, WNOHANG)
        guard kill(file.pid, 0) == -1, errno == ESRCH else { return false }
        kill(-file.pid, SIGKILL)
        try? FileManager.default.removeItem(at: pidFileURL(file.id))
        removeOldLogs()
        return true
    }

    /// Nothing but the autoscaler stops these processes.
    public func protect(_ id: InstanceID) async throws {}

    /// A local process waits for its drain without a timer of its own.
    public func draining(_ id: InstanceID) async throws {}

    /// Sends `signal` to the instance's process group, or to the process alone when it leads none (spawned by
    /// another provider version, or it left its session).
    private func signal(_ pid: Int32, _ signal: Int32) {
        if getpgid(pid) == pid, kill(-pid, signal) == 0 { return }
        kill(pid, signal)
    }

    private func pidFileURL(_ id: InstanceID) -> URL { directory.appendingPathComponent("\(id).json") }

    /// Deletes the logs of stopped instances (no pid file, no launch marker) beyond the newest `keepLogs`.
    private func removeOldLogs() {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        let stopped = names.filter { name in
            guard name.hasSuffix(".log") else { return false }
            let id = name.dropLast(".log".count)
            return !names.contains("\(id).json") && !names.contains("\(id).launching")
        }
        func modified(_ name: String) -> Date {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            return attributes?[.modificationDate] as? Date ?? .distantPast
        }
        for name in stopped.sorted(by: { modified($0) > modified($1) }).dropFirst(settings.keepLogs) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    private func readPidFile(_ id: InstanceID) -> PidFile? {
        guard let data = try? Data(contentsOf: pidFileURL(id)) else { return nil }
        return try? JSONDecoder().decode(PidFile.self, from: data)
    }

    /// Alive, not a zombie (reaped here when it is our child), and the very process the pid file names.
    private func isRunning(_ file: PidFile) -> Bool {
        var status: Int32 = 0
        _ = waitpid(file.pid, &status, WNOHANG)
        guard let started = Self.startTime(of: file.pid) else { return false }
        return file.startTime == 0 || started == file.startTime
    }

    /// A live process of this user whose environment names the instance (`PLAZA_INSTANCE_ID`, which every
    /// instance gets).
    static func process(withInstanceID id: InstanceID) -> Int32? {
        let marker = Data("PLAZA_INSTANCE_ID=\(id)\0".utf8)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
                environment.range(of: marker) != nil, startTime(of: pid) != nil
            else { continue }
            return pid
        }
        return nil
    }

    /// The start time of a live, non-zombie process, from `/proc/<pid>/stat`.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = stat.lastIndex(of: ")") else {
            return nil
        }
        // After "pid (comm)": field 3 is the state, field 22 the start time.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; not in Swift's Glibc module map), else one
    /// close action per descriptor open now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap(Int32.init) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }

    static func ownExecutable() throws -> String {
        do { return try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") } catch {
            throw ProviderError("cannot find this executable (/proc/self/exe): set provider.executable")
        }
    }

    /// Starts `executable` with stdin from /dev/null and stdout and stderr appended to `log`, in a new session
    /// unless `newSession` is false (a helper that stops with its parent's process group).
    static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String], log: String, newSession: Bool = true
    ) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc ≥ 2.26): the instance is not in the autoscaler's process group or session,
        // so a Ctrl-C or a crash of the autoscaler leaves it running for the next leader to adopt.
        // POSIX_SPAWN_SETSIGDEF and SETSIGMASK: every signal at its default and none blocked. The calling
        // thread's mask and the process's dispositions survive the spawn and the exec, and the threads of this
        // process (executors, event loops) may block signals; inherited, the instance would never see the
        // SIGTERM that stops it gracefully and would wait for the SIGKILL.
        var everySignal = sigset_t()
        sigfillset(&everySignal)
        posix_spawnattr_setsigdefault(&attributes, &everySignal)
        var noSignal = sigset_t()
        sigemptyset(&noSignal)
        posix_spawnattr_setsigmask(&attributes, &noSignal)
        posix_spawnattr_setflags(&attributes, Int16((newSession ? 0x80 : 0) | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the autoscaler's is inherited: not its store connections, and not the descriptor a
        // parent process (a supervisor, Foundation's `Process`) watches to learn that the autoscaler exited.
        closeInheritedDescriptors(&actions)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ProviderError("cannot start \(executable): \(String(cString: strerror(result)))") }
        return pid
    }
}
