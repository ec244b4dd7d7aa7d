import ArgumentParser
import PlazaBench
import Foundation

/// `plaza bench`: load generators over real WebSockets, against a `plaza serve` they start themselves.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Plaza with real WebSocket clients (run a release build: swift build -c release).",
        discussion: """
            Each benchmark starts `plaza serve` (this executable) on a free loopback port with a temporary data \
            directory, measures its CPU and memory from /proc, and prints one JSON object of results.
            """,
        subcommands: [
            Fanout.self, Space.self, Placement.self, Join.self, FleetFanout.self, Failover.self, Load.self,
            SlowConsumers.self, Drill.self, LeaderFailover.self, Soak.self, Handshakes.self, Zone.self,
        ]
    )

    struct Common: ParsableArguments {
        @Option(help: "Seconds of warm-up before measuring.")
        var warmup: Double = 5
        @Option(help: "Seconds to measure.")
        var duration: Double = 20
        @Option(help: "Event-loop threads of the load generator.")
        var threads: Int = 1

        var settings: BenchSettings {
            var settings = BenchSettings(executable: executablePath())
            settings.warmup = warmup
            settings.duration = duration
            settings.generatorThreads = threads
            return settings
        }

        /// The settings, over TLS with a new self-signed certificate when `tls`.
        func settings(tls: Bool) throws -> BenchSettings {
            var settings = self.settings
            if tls {
                let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plaza-bench-tls-\(getpid())").path
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                settings.tls = try BenchTLS.make(in: folder)
            }
            return settings
        }
    }

    struct Fanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One room of N clients, M of which send chat messages: deliveries/s, CPU per delivery, latency, memory.")
        @Option(help: "Clients in the room.") var clients: Int = 1_000
        @Option(help: "Clients that send.") var senders: Int = 10
        @Option(help: "Messages per second, all senders together.") var rate: Double = 200
        @Option(help: "Chat text bytes per message.") var size: Int = 100
        @Flag(help: "Serve over TLS (https, wss) with a self-signed certificate the clients trust.") var tls = false
        @OptionGroup var common: Common

        func run() async throws {
            var bench = FanoutBench(settings: try common.settings(tls: tls))
            bench.clients = clients
            bench.senders = senders
            bench.rate = rate
            bench.size = size
            report(try await bench.run(log: log))
        }
    }

    struct Space: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N avatars moving in one space: move latency and bytes per client per second.")
        @Option(help: "Avatars in the space.") var avatars: Int = 3_000
        @Option(help: "Moves per second per avatar.") var rate: Double = 5
        @Option(name: .customLong("map-size"), help: "Side of the square map, in map units.") var mapSize: Double = 8_192
        @OptionGroup var common: Common

        func run() async throws {
            var bench = SpaceBench(settings: common.settings)
            bench.avatars = avatars
            bench.rate = rate
            bench.mapSize = mapSize
            report(try await bench.run(log: log))
        }
    }

    struct Zone: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Meetings of N people in one meeting zone on one Janus: streams flowing, Janus CPU per forwarded stream, upload per browser.",
            discussion: """
                Starts Janus (Debian's janus, configured as plaza janus does) and plaza serve pointed at it, seats N \
                guests in the built-in map's meeting room for each --sizes entry, and runs synthetic WebRTC peers \
                (scripts/bench-zone-peers.py: aiortc, pip install -r scripts/requirements-bench.txt) with the \
                credentials of their conference frames. Janus gathers ICE on a non-loopback interface: run it \
                under scripts/in-media-namespace (as root), which provides one.
                """)
        @Option(parsing: .upToNextOption, help: "Meeting sizes to measure.") var sizes: [Int] = [2, 3, 4, 6, 8]
        @Option(help: "The synthetic peers' script.") var generator = "scripts/bench-zone-peers.py"
        @Option(help: "The Python that runs it, with aiortc installed (looked up on PATH).") var python = "python3"
        @Option(name: .customLong("peers-per-process"), help: "Synthetic participants per generator process (one Python process uses one core).") var peersPerProcess = 4
        @Option(name: .customLong("ice-interface"), help: "Janus's ICE interface (default PLAZA_MEDIA_INTERFACE).") var iceInterface: String?
        @OptionGroup var common: Common

        func run() async throws {
            var bench = ZoneBench(settings: common.settings)
            bench.sizes = sizes
            bench.generator = generator
            bench.python = python
            bench.peersPerProcess = peersPerProcess
            bench.iceInterface = iceInterface ?? ProcessInfo.processInfo.environment["PLAZA_MEDIA_INTERFACE"]
            report(try await bench.run(log: log))
        }
    }

    struct Placement: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Joins of new rooms through plaza directory with N registered, heartbeating nodes: decisions/s and latency.",
            discussion: """
                Registers the nodes in the given store (they heartbeat every --heartbeat-interval seconds for the \
                whole run, as a fleet would), starts `plaza directory` processes on it, and sends POST /api/v1/join \
                for a new room from --concurrency keep-alive connections, each waiting for its answer.
                """)
        @Option(help: "The fleet's store, postgres://… or sqlite:<path> (an empty database is best).") var store: String
        @Option(help: "Registered nodes.") var nodes: Int = 1_000
        @Option(help: "Directories (plaza directory processes).") var directories: Int = 1
        @Option(help: "Connections sending joins, each one at a time.") var concurrency: Int = 64
        @Option(name: .customLong("heartbeat-interval"), help: "Seconds between two reports of one node.")
        var heartbeatInterval: Double = 2
        @Option(help: "Instead of the timed run: this many new rooms as fast as possible against nodes reporting equal loads, then how evenly they spread.")
        var burst: Int?
        @OptionGroup var common: Common

        func run() async throws {
            var bench = PlacementBench(settings: common.settings, store: store)
            bench.burst = burst
            bench.nodes = nodes
            bench.directories = directories
            bench.concurrency = concurrency
            bench.heartbeatInterval = heartbeatInterval
            report(try await bench.run(log: log))
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Participants arriving at a fixed rate through plaza directory and plaza node: join-to-welcome latency.",
            discussion: """
                Starts `plaza directory` and `plaza node` processes on the given PostgreSQL database. Open loop: a \
                join is sent when it is due, answered or not, and its latency runs from then to the welcome: \
                POST /api/v1/join, WebSocket to the node named in the answer, hello, welcome. Participants join \
                --rooms rooms in turn and leave after --hold seconds.
                """)
        @Option(help: "The fleet's store, postgres://… (an empty database is best).") var store: String
        @Option(help: "Room servers (plaza node processes).") var nodes: Int = 2
        @Option(help: "Directories (plaza directory processes).") var directories: Int = 1
        @Option(help: "Joins per second offered.") var rate: Double = 1_000
        @Option(help: "Rooms the participants join, in turn.") var rooms: Int = 1_000
        @Option(help: "Seconds each participant stays connected.") var hold: Double = 10
        @Flag(help: "Every process over TLS (https, wss) with a self-signed certificate the clients trust.") var tls = false
        @OptionGroup var common: Common

        func run() async throws {
            var bench = JoinBench(settings: try common.settings(tls: tls), store: store)
            bench.nodes = nodes
            bench.directories = directories
            bench.rate = rate
            bench.rooms = rooms
            bench.hold = hold
            report(try await bench.run(log: log))
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fill a running fleet with participants through its directory and hold them (an autoscaling drill).",
            discussion: """
                Joins --rooms rooms named <prefix>-<n> with --participants each through the directory, keeps every \
                participant connected for --hold seconds (or until the process is stopped), then leaves.
                """)
        @Option(help: "The directory's base URL, http://host:port.") var directory: String
        @Option(help: "Rooms to fill.") var rooms: Int = 10
        @Option(help: "Participants per room.") var participants: Int = 10
        @Option(help: "Room name prefix.") var prefix: String = "load"
        @Option(help: "Seconds to stay connected.") var hold: Double = 60
        @Option(help: "Joins in flight at once.") var concurrency: Int = 16

        func run() async throws {
            var bench = LoadBench(directory: directory)
            bench.rooms = rooms
            bench.participantsPerRoom = participants
            bench.prefix = prefix
            bench.hold = hold
            bench.concurrency = concurrency
            report(try await bench.run(log: log))
        }
    }

    struct FleetFanout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fleet-fanout",
            abstract: "Rooms placed over several nodes by a directory, one sender each: fleet deliveries/s, CPU per node.",
            discussion: """
                Starts one `plaza directory` and --nodes `plaza node` processes on the given PostgreSQL database, \
                joins --rooms rooms of --clients-per-room clients through the directory, and has one client of \
                each room send chat messages.
                """)
        @Option(help: "The fleet's store, postgres://… (an empty database is best).") var store: String
        @Option(help: "Room servers (plaza node processes).") var nodes: Int = 2
        @Option(help: "Rooms.") var rooms: Int = 20
        @Option(name: .customLong("clients-per-room"), help: "Clients in each room.") var clientsPerRoom: Int = 100
        @Option(help: "Messages per second, all rooms together.") var rate: Double = 2_000
        @Option(help: "Chat text bytes per message.") var size: Int = 100
        @OptionGroup var common: Common

        func run() async throws {
            var bench = FleetFanoutBench(settings: common.settings, store: store)
            bench.nodes = nodes
            bench.rooms = rooms
            bench.clientsPerRoom = clientsPerRoom
            bench.rate = rate
            bench.size = size
            report(try await bench.run(log: log))
        }
    }

    struct Failover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Kill -9 the node of a busy room, again and again: time until its rooms serve again, acknowledged messages lost.",
            discussion: """
                Starts `plaza directory` and `plaza node` processes (this executable) on the given PostgreSQL \
                database; one writer per room sends chat messages and, like the web client, joins again and resends \
                what is unacknowledged after every disconnection. Each cycle kills the node of one room with SIGKILL, \
                waits for its rooms to be acknowledged by their new homes, and restarts it. At the end every \
                acknowledged message is looked up in the history. The processes inherit PLAZA_* settings \
                (PLAZA_CLUSTER_HEARTBEAT_TTL and so on) from the environment.
                """)
        @Option(help: "The fleet's store, postgres://… (an empty database is best).") var store: String
        @Option(help: "Room servers (plaza node processes).") var nodes: Int = 3
        @Option(help: "Directories (plaza directory processes).") var directories: Int = 2
        @Option(help: "Rooms, one writer each.") var rooms: Int = 6
        @Option(help: "Kill cycles.") var cycles: Int = 20
        @Option(help: "Chat messages per second per room.") var rate: Double = 10

        func run() async throws {
            var drill = FailoverDrill(executable: executablePath(), store: store)
            drill.nodes = nodes
            drill.directories = directories
            drill.rooms = rooms
            drill.cycles = cycles
            drill.messagesPerSecond = rate
            let outcome = try await drill.run(log: log)
            report(outcome.results)
        }
    }
}

extension Bench {
    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A fault an operator meets, on a fleet under load: what clients, directories and nodes answered, and nothing acknowledged lost.",
            discussion: """
                Starts its own PostgreSQL server (Debian's postgresql), `plaza directory` and `plaza node` processes \
                (this executable) with the cluster's default timings unless PLAZA_* settings in the environment say \
                otherwise, and two writers per room sending chat and moves. Then one fault: store-down (PostgreSQL \
                shut down for --seconds), store-hung (frozen with SIGSTOP), partition (the rooms' node cut off from \
                PostgreSQL through a proxy), clock-skew (the rooms' node --skew seconds ahead, another behind, one \
                directory ahead, with Debian's faketime; then the node ahead frozen), rolling-restart (SIGTERM and \
                restart of every node in turn). Probes ask the directories and nodes four times a second \
                meanwhile. At the end every acknowledged message is looked up in the history.
                """)
        @Option(help: "store-down, store-hung, partition, clock-skew or rolling-restart.") var fault: String
        @Option(help: "Seconds the fault lasts.") var seconds: Double = 30
        @Option(help: "Seconds of clock skew (clock-skew).") var skew: Int = 30
        @Option(help: "Room servers (default: 2, or 3 for rolling-restart).") var nodes: Int?
        @Option(help: "Rooms, two writers each.") var rooms: Int = 4
        @Option(help: "Chat messages per second per writer.") var rate: Double = 10

        func run() async throws {
            guard let fault = FaultDrill.Fault(rawValue: fault) else {
                throw ValidationError("--fault must be one of \(FaultDrill.Fault.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var drill = FaultDrill(executable: executablePath(), fault: fault)
            if let nodes { drill.nodes = nodes }
            drill.rooms = rooms
            drill.faultSeconds = seconds
            drill.skewSeconds = skew
            drill.messagesPerSecond = rate
            let outcome = try await drill.run(log: log)
            report(outcome.results, failures: outcome.failures)
        }
    }

    struct LeaderFailover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "leader-failover",
            abstract: "Kill -9 the autoscaler's leader in the middle of scale-outs: nothing may be launched twice.",
            discussion: """
                Starts its own PostgreSQL server and two `plaza autoscaler` processes (this executable) on a pool \
                whose provider is a script keeping a folder of instances and a log of every launch. Each cycle \
                raises the desired capacity by --step, kills the leader once some of the new instances are \
                launched, waits for the standby to finish the scale-out and starts the killed one again as the \
                new standby. At the end the folder must hold exactly the desired instances, each launched once.
                """)
        @Option(help: "Kill cycles.") var cycles: Int = 20
        @Option(help: "Instances added by each scale-out.") var step: Int = 4
        @Option(name: .customLong("lease-ttl"), help: "The autoscalers' autoscaler.leaseTTL, seconds.") var leaseTTL: Double = 2

        func run() async throws {
            var drill = LeaderFailoverDrill(executable: executablePath())
            drill.cycles = cycles
            drill.step = step
            drill.leaseTTL = leaseTTL
            let outcome = try await drill.run(log: log)
            report(outcome.results, failures: outcome.failures)
        }
    }

    struct Handshakes: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "TLS handshakes per second one plaza serve sustains, full and resumed, with its CPU per handshake.",
            discussion: "The generator is `openssl s_time` (Debian's openssl): --clients processes at once, for --duration s each mode.")
        @Option(help: "openssl s_time processes at once.") var clients: Int = 2
        @OptionGroup var common: Common

        func run() async throws {
            var bench = HandshakeBench(settings: common.settings)
            bench.clients = clients
            report(try await bench.run(log: log))
        }
    }

    struct Soak: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Churn on one plaza serve for an hour: its memory and open files over time, flat once warm.",
            discussion: """
                --population participants at all times in --rooms rooms: each joins a room, moves twice a second, \
                chats every 10 s, now and then loses its socket and resumes with `since`, and after a while \
                (exponential, mean 60 s) leaves for good and is replaced by a new one. The server's RSS and open \
                file descriptors are sampled every --sample seconds and printed as a table on standard error.
                """)
        @Option(help: "Seconds of churn.") var duration: Double = 3_600
        @Option(help: "Seconds between samples.") var sample: Double = 60
        @Option(help: "Participants connected at any time.") var population: Int = 200
        @Option(help: "Rooms.") var rooms: Int = 20

        func run() async throws {
            var bench = SoakBench(executable: executablePath())
            bench.duration = duration
            bench.sampleInterval = sample
            bench.population = population
            bench.rooms = rooms
            report(try await bench.run(log: log).results)
        }
    }

    struct SlowConsumers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slow-consumers",
            abstract: "A storm of clients that stop reading while chat flows: server memory during and after, and how they were closed.",
            discussion: """
                N clients join one room and stop reading; one more sends chat, evenly paced, for --duration \
                seconds (--warmup is not used). Reports the server's RSS before, at its peak and 20 s after the \
                storm, the kernel's TCP memory (machine-wide), and the server's counts of 4002 closes, slow \
                consumers by cause and connections reset after the close timeout.
                """)
        @Option(help: "Clients that stop reading.") var clients: Int = 500
        @Option(help: "Chat messages per second.") var rate: Double = 200
        @Option(help: "Chat text bytes per message.") var size: Int = 200
        @Option(name: .customLong("slow-consumer-seconds"), help: "The server's limits.slowConsumerSeconds (default: its own).")
        var slowConsumerSeconds: Double?
        @OptionGroup var common: Common

        func run() async throws {
            var bench = SlowConsumerStormBench(settings: common.settings)
            bench.clients = clients
            bench.rate = rate
            bench.size = size
            if let slowConsumerSeconds { bench.environment["PLAZA_LIMITS_SLOW_CONSUMER_SECONDS"] = String(slowConsumerSeconds) }
            report(try await bench.run(log: log))
        }
    }
}

/// This executable, which the benchmarks start as the server; a debug build's figures say little, so say so.
private func executablePath() -> String {
    #if DEBUG
    log("warning: this is a debug build, several times slower than a release one: build with `swift build -c release`")
    #endif
    return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

private func log(_ line: String) {
    FileHandle.standardError.write(Data("bench: \(line)\n".utf8))
}

/// A drill's figures, after what failed in it.
private func report(_ results: [String: Double], failures: [String]) {
    for failure in failures { log(failure) }
    report(results)
}

private func report(_ results: [String: Double]) {
    let lines = results.sorted { $0.key < $1.key }.map { key, value in
        let formatted = value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
        return "  \"\(key)\": \(formatted)"
    }
    print("{\n" + lines.joined(separator: ",\n") + "\n}")
}
