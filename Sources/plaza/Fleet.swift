import ArgumentParser
import Foundation
import PlazaDirectory
import PlazaStore
import PlazaRoles
import PlazaHTTPClient

/// `plaza fleet`: the fleet API of a directory, as tables.
struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Look at and steer the autoscaled fleet through a directory's fleet API.",
        subcommands: [Status.self, Activities.self, SetDesired.self, Protect.self]
    )

    /// Where the API is and the admin token it wants.
    struct Connection: ParsableArguments {
        @Option(help: "A directory's base URL (env PLAZA_DIRECTORY; default http://127.0.0.1:8080).")
        var directory: String?

        @Option(
            name: .customLong("admin-token"),
            help: "The admin token (env PLAZA_AUTH_ADMIN_TOKEN; default: the one plaza serve keeps in <data-dir>/admin-token).")
        var adminToken: String?

        @Option(name: .customLong("data-dir"), help: "plaza serve's data directory, for its admin token (key dataDir; default ./plaza-data).")
        var dataDirectory: String?

        @Flag(help: "Print the API's JSON instead of a table.")
        var json = false

        /// Sends one request; an error answer becomes the command's error.
        func call(_ method: String, _ path: String, body: [String: Any]? = nil) async throws -> Data {
            let configuration = PlazaConfiguration(
                reader: try await ConfigurationLoader.reader(
                    flags: [
                        "directory": directory.map { .string($0) }, "auth.adminToken": adminToken.map { .string($0) },
                        "dataDir": dataDirectory.map { .string($0) },
                    ], file: nil))
            let base = configuration.directoryURL
            guard let url = URL(string: base.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path) else {
                throw ValidationError("--directory is not a URL: \(base)")
            }
            let tokenFile = URL(fileURLWithPath: configuration.dataDirectory).appendingPathComponent("admin-token").standardizedFileURL.path
            let stored = (try? String(contentsOfFile: tokenFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let token = configuration.auth.adminToken ?? stored.flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw CommandFailure(
                    description: "the fleet API needs the admin token: give --admin-token or set PLAZA_AUTH_ADMIN_TOKEN "
                        + "(plaza serve keeps its token in <data-dir>/admin-token; there is none at \(tokenFile))")
            }
            let json = try body.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
            let answer: HTTPCall.Answer
            do {
                answer = try await HTTPCall.json(.init(rawValue: method), url.absoluteString, body: json, bearer: token).send()
            } catch {
                throw CommandFailure(description: "cannot reach the directory at \(base): \(error)")
            }
            if answer.status == 401 {
                let source = configuration.auth.adminToken != nil ? "the token given" : "the token in \(tokenFile)"
                throw CommandFailure(
                    description: "the directory at \(base) refused \(source): it is not that directory's admin token "
                        + "(auth.adminToken; plaza serve keeps its own in <data-dir>/admin-token)")
            }
            guard answer.status == 200 else {
                let error = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["error"] as? [String: Any]
                let code = error?["code"] as? String ?? "http_\(answer.status)"
                throw CommandFailure(description: "\(code): \(error?["message"] as? String ?? answer.text)")
            }
            return answer.body
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pools, their instances, states and load.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let data = try await connection.call("GET", "/api/v1/fleet")
            if connection.json { return print(String(decoding: data, as: UTF8.self)) }
            let status = try JSONDecoder().decode(FleetStatus.self, from: data)
            var rows = [["POOL", "KIND", "REGION", "MIN", "DESIRED", "MAX", "CAPACITY"]]
            for pool in status.pools {
                rows.append([pool.name.rawValue, pool.kind.rawValue, pool.region, "\(pool.min)", "\(pool.desired)", "\(pool.max)", "\(pool.capacity)"])
            }
            print(Table.render(rows))
            var instances = [["INSTANCE", "POOL", "STATE", "PROTECTED", "PARTICIPANTS", "ROOMS", "CPU", "URL", "SINCE"]]
            for pool in status.pools {
                for instance in pool.instances {
                    let node = instance.node
                    instances.append([
                        instance.id.rawValue, pool.name.rawValue, instance.state, instance.protected ? "yes" : "no",
                        node.map { "\($0.participants)/\($0.capacity)" } ?? "-", node.map { "\($0.rooms)" } ?? "-",
                        node.map { String(format: "%.0f%%", $0.cpu * 100) } ?? "-", node?.url ?? "-", Table.time(instance.stateSince),
                    ])
                }
            }
            print("")
            print(instances.count > 1 ? Table.render(instances) : "no instances")
        }
    }

    struct Activities: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Scaling activities, newest first: when, what, why, result.")
        @OptionGroup var connection: Connection
        @Option(help: "Only this pool's activities.") var pool: String?
        @Option(help: "How many (default: the directory's, 50 unless limits.fleetActivitiesPage is lower).") var limit: Int?

        func run() async throws {
            var query: [String] = []
            if let limit { query.append("limit=\(limit)") }
            if let pool { query.append("pool=\(pool.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? pool)") }
            let path = "/api/v1/fleet/activities" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            let data = try await connection.call("GET", path)
            if connection.json { return print(String(decoding: data, as: UTF8.self)) }
            let activities = try JSONDecoder().decode([String: [ScalingActivity]].self, from: data)["activities"] ?? []
            var rows = [["TIME", "POOL", "ACTION", "INSTANCE", "FROM→TO", "CAUSE", "RESULT", "REASON"]]
            for activity in activities {
                let change = activity.from.map { from in "\(from)→\(activity.to.map(String.init) ?? "?")" } ?? "-"
                rows.append([
                    Table.time(activity.at), activity.pool.rawValue, activity.action, activity.instance?.rawValue ?? "-", change, activity.cause,
                    activity.result, activity.reason,
                ])
            }
            print(rows.count > 1 ? Table.render(rows) : "no activities")
        }
    }

    struct SetDesired: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-desired", abstract: "Set a pool's desired capacity (within its min and max).")
        @OptionGroup var connection: Connection
        @Argument(help: "The pool.") var pool: String
        @Argument(help: "The desired capacity.") var desired: Int

        func run() async throws {
            let data = try await connection.call("PUT", "/api/v1/fleet/pools/\(pool)/desired", body: ["desired": desired])
            print(connection.json ? String(decoding: data, as: UTF8.self) : "\(pool): desired \(desired)")
        }
    }

    struct Protect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Protect an instance from scale-in (or lift it with --off).")
        @OptionGroup var connection: Connection
        @Argument(help: "The instance.") var instance: String
        @Flag(help: "Lift the protection.") var off = false

        func run() async throws {
            let data = try await connection.call("PUT", "/api/v1/fleet/instances/\(instance)/protection", body: ["protected": !off])
            print(connection.json ? String(decoding: data, as: UTF8.self) : "\(instance): \(off ? "not protected" : "protected") from scale-in")
        }
    }
}

/// Left-aligned columns, two spaces apart.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// Local time of a Unix-epoch millisecond timestamp.
    static func time(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000).formatted(
            .verbatim("\(year: .defaultDigits)-\(month: .twoDigits)-\(day: .twoDigits) \(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased)):\(minute: .twoDigits):\(second: .twoDigits)",
                      timeZone: .current, calendar: Calendar(identifier: .gregorian)))
    }
}
