public import ServiceLifecycle
public import PlazaPlacement
import PlazaFleetModel
import PlazaHTTPClient
import Logging
import Synchronization
import Foundation

/// Node load for a directory's placement read from Prometheus (`cluster.loadSource` prometheus), as front
/// ends that pick "the least-used instance" from their monitoring do: every `cluster.prometheusInterval` it
/// runs the participants and CPU queries against Prometheus's HTTP API and keeps the latest answer. Liveness and
/// state still come from the registry; a node Prometheus does not know keeps its reported load.
public final class PrometheusLoadSource: Service, Sendable {
    private let baseURL: String
    private let participantsQuery: String
    private let cpuQuery: String
    private let interval: Duration
    private let lag: Int64
    private let logger: Logger
    private let latestReading = Mutex<(loads: ExternalLoads, readAt: ContinuousClock.Instant)?>(nil)

    init(configuration: DirectoryConfiguration, baseURL: String, logger: Logger) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        participantsQuery = configuration.prometheusParticipantsQuery
        cpuQuery = configuration.prometheusCPUQuery
        interval = .milliseconds(Int64(configuration.prometheusInterval * 1000))
        lag = Int64(configuration.prometheusLag * 1000)
        self.logger = logger
    }

    /// The latest reading, unless three intervals have passed without a new one: placement then falls back to
    /// the nodes' reports rather than steer by stale figures.
    public var latest: ExternalLoads? {
        latestReading.withLock { reading in
            guard let reading, ContinuousClock.now - reading.readAt < interval * 3 else { return nil }
            return reading.loads
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.read()
                } catch where !Task.isCancelled {
                    self.logger.warning("could not read node load from Prometheus", metadata: ["error": "\(error)"])
                } catch {
                    break
                }
                do { try await Task.sleep(for: self.interval) } catch { break }
            }
        }
    }

    private func read() async throws {
        let now = wallClockMilliseconds()
        var samples: [NodeID: ExternalLoads.Sample] = [:]
        for (node, value) in try await query(participantsQuery) {
            samples[node, default: .init()].participants = Int(value.rounded())
        }
        for (node, value) in try await query(cpuQuery) {
            samples[node, default: .init()].cpu = min(1, max(0, value))
        }
        let loads = ExternalLoads(samples: samples, since: now - lag)
        latestReading.withLock { $0 = (loads, .now) }
    }

    /// An instant query: the value of each series by its `node` label.
    private func query(_ expression: String) async throws -> [(NodeID, Double)] {
        var components = URLComponents(string: baseURL + "/api/v1/query")
        components?.queryItems = [URLQueryItem(name: "query", value: expression)]
        guard let url = components?.url else { throw PrometheusQueryError("invalid cluster.prometheusURL: \(baseURL)") }
        let answer = try await HTTPCall(.GET, url.absoluteString, timeout: .seconds(5)).send()
        let data = answer.body
        guard answer.status == 200,
            let body = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let result = (body["data"] as? [String: Any])?["result"] as? [[String: Any]]
        else { throw PrometheusQueryError("\(expression): \(String(decoding: data.prefix(300), as: UTF8.self))") }
        return result.compactMap { series in
            guard let node = (series["metric"] as? [String: Any])?["node"] as? String,
                let text = (series["value"] as? [Any])?.last as? String, let value = Double(text), value.isFinite
            else { return nil }
            return (NodeID(node), value)
        }
    }
}

struct PrometheusQueryError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
