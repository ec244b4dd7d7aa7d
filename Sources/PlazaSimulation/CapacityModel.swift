public import PlazaFleetModel
public import Foundation

/// What instances carry and cost (`plaza simulate --model model.json`): how a conference's participants load a
/// bridge (streams received × bitrate, capped by last-N), each kind's capacity, price and start-up delays, and the
/// price of egress. The figures the policies read (`bytesOut`, `cpu`, `participants`, `idle`, …) come out of it in
/// the units the live agents report. Every default is documented in docs/simulate.md with its source, or as an
/// assumption.
public struct CapacityModel: Sendable, Equatable, Codable {
    /// Average bitrate of one video stream a participant receives (a mix of simulcast layers), kbit/s.
    public var videoKbps: Double = 300
    /// One audio stream, kbit/s.
    public var audioKbps: Double = 40
    /// Video streams a participant receives at most (the bridge's last-N).
    public var lastN: Int = 20
    /// Audio streams a participant receives at most (the loudest speakers the bridge forwards).
    public var audioStreams: Int = 3
    /// What one participant receives at most, kbit/s: the bridge fits the layers it sends into the receiver's
    /// estimated bandwidth, so a large meeting's many streams come as thumbnails.
    public var maxReceiveKbps: Double = 2_500
    /// What each participant sends the bridge (its simulcast layers and audio), kbit/s: the bridge's `bytesIn`.
    public var sendKbps: Double = 1_800
    /// Conferences of fewer participants run peer-to-peer, on no bridge (Jitsi Meet's one-to-one calls).
    public var bridgeMinParticipants: Int = 3
    /// Price of a GB (10⁹ bytes) leaving the bridges.
    public var egressPricePerGB: Double = 0.09
    /// Seconds between a refused recording or conference and its next try (the `Retry-After` a client obeys).
    public var retrySeconds: Double = 30
    /// Each kind's capacity, price and delays, then any pool's own (`pools`, by name, over its kind's).
    public var kinds: [String: InstanceModel] = CapacityModel.defaultKinds
    public var pools: [String: InstanceModel] = [:]

    public static let defaultKinds: [String: InstanceModel] = [
        NodeKind.roomServer.rawValue: InstanceModel(participants: 500, pricePerHour: 0.085, launchDelay: 30, bootDelay: 30),
        NodeKind.jvb.rawValue: InstanceModel(participants: 1_000, egressMbps: 2_000, pricePerHour: 0.17, launchDelay: 60, bootDelay: 120),
        NodeKind.janus.rawValue: InstanceModel(participants: 1_000, egressMbps: 2_000, pricePerHour: 0.17, launchDelay: 60, bootDelay: 60),
        NodeKind.jibri.rawValue: InstanceModel(participants: 1, pricePerHour: 0.17, launchDelay: 60, bootDelay: 180),
        NodeKind.custom.rawValue: InstanceModel(participants: 500, pricePerHour: 0.085, launchDelay: 30, bootDelay: 30),
    ]

    public init() {}

    /// One pool's figures: its kind's, with the pool's own over them.
    public func instance(pool: String, kind: NodeKind) -> InstanceModel {
        let base = kinds[kind.rawValue] ?? Self.defaultKinds[kind.rawValue] ?? InstanceModel()
        return pools[pool].map { base.overridden(by: $0) } ?? base
    }

    /// Egress towards each participant of a conference of `participants` on a bridge, bytes per second.
    public func egressPerParticipant(_ participants: Int) -> Double {
        let others = Double(max(participants - 1, 0))
        let video = min(others, Double(lastN)) * videoKbps
        let audio = min(others, Double(audioStreams)) * audioKbps
        return min(video + audio, maxReceiveKbps) * 125
    }

    /// What one participant sends the bridge, bytes per second.
    public var ingressPerParticipant: Double { sendKbps * 125 }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case videoKbps, audioKbps, lastN, audioStreams, maxReceiveKbps, sendKbps, bridgeMinParticipants, egressPricePerGB, retrySeconds, kinds, pools
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = CapacityModel()
        videoKbps = try c.decodeIfPresent(Double.self, forKey: .videoKbps) ?? defaults.videoKbps
        audioKbps = try c.decodeIfPresent(Double.self, forKey: .audioKbps) ?? defaults.audioKbps
        lastN = try c.decodeIfPresent(Int.self, forKey: .lastN) ?? defaults.lastN
        audioStreams = try c.decodeIfPresent(Int.self, forKey: .audioStreams) ?? defaults.audioStreams
        maxReceiveKbps = try c.decodeIfPresent(Double.self, forKey: .maxReceiveKbps) ?? defaults.maxReceiveKbps
        sendKbps = try c.decodeIfPresent(Double.self, forKey: .sendKbps) ?? defaults.sendKbps
        bridgeMinParticipants = try c.decodeIfPresent(Int.self, forKey: .bridgeMinParticipants) ?? defaults.bridgeMinParticipants
        egressPricePerGB = try c.decodeIfPresent(Double.self, forKey: .egressPricePerGB) ?? defaults.egressPricePerGB
        retrySeconds = try c.decodeIfPresent(Double.self, forKey: .retrySeconds) ?? defaults.retrySeconds
        // A kind named in the file keeps the defaults of what it leaves out.
        var kinds = Self.defaultKinds
        for (kind, given) in try c.decodeIfPresent([String: InstanceModel].self, forKey: .kinds) ?? [:] {
            kinds[kind] = (kinds[kind] ?? InstanceModel()).overridden(by: given)
        }
        self.kinds = kinds
        pools = try c.decodeIfPresent([String: InstanceModel].self, forKey: .pools) ?? [:]
    }

    /// Reads a model file: every key known, every figure in range; the error names the key at fault.
    public static func parse(_ data: Data) throws(ModelError) -> CapacityModel {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError("the model file is not a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) { throw ModelError("unknown key '\(unknown)'") }
        for section in ["kinds", "pools"] {
            guard let entries = object[section] else { continue }
            guard let entries = entries as? [String: Any] else { throw ModelError("'\(section)' must be an object") }
            for (name, entry) in entries {
                guard let entry = entry as? [String: Any] else { throw ModelError("\(section).\(name) must be an object") }
                let known = Set(InstanceModel.CodingKeys.allCases.map(\.rawValue))
                if let unknown = entry.keys.sorted().first(where: { !known.contains($0) }) {
                    throw ModelError("\(section).\(name): unknown key '\(unknown)'")
                }
                if section == "kinds", NodeKind(rawValue: name) == nil {
                    throw ModelError("kinds.\(name): not a kind (room-server, jvb, janus, jibri, custom)")
                }
            }
        }
        let model: CapacityModel
        do { model = try JSONDecoder().decode(CapacityModel.self, from: data) } catch {
            throw ModelError("the model file does not decode: \(error)")
        }
        try model.validate()
        return model
    }

    /// Seconds a delay or a retry may take at most: a year.
    static let longestDelay = 365 * 86_400.0

    func validate() throws(ModelError) {
        for (key, value) in [
            ("videoKbps", videoKbps), ("audioKbps", audioKbps), ("maxReceiveKbps", maxReceiveKbps), ("sendKbps", sendKbps),
            ("egressPricePerGB", egressPricePerGB),
        ] where !(value >= 0 && value < 1e12) {
            throw ModelError("\(key) must be a number ≥ 0")
        }
        guard lastN >= 0, audioStreams >= 0 else { throw ModelError("lastN and audioStreams must be ≥ 0") }
        guard bridgeMinParticipants >= 1 else { throw ModelError("bridgeMinParticipants must be ≥ 1") }
        guard retrySeconds >= 1, retrySeconds <= Self.longestDelay else { throw ModelError("retrySeconds must be within 1 … 31536000") }
        for (section, entries) in [("kinds", kinds), ("pools", pools)] {
            for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
                let at = "\(section).\(name)"
                if let participants = entry.participants, participants < 1 { throw ModelError("\(at).participants must be ≥ 1") }
                for (key, value, limit) in [
                    ("egressMbps", entry.egressMbps, 1e9), ("pricePerHour", entry.pricePerHour, 1e9),
                    ("launchDelay", entry.launchDelay, Self.longestDelay), ("bootDelay", entry.bootDelay, Self.longestDelay),
                ] {
                    if let value, !(value >= 0 && value <= limit) { throw ModelError("\(at).\(key) must be within 0 … \(Int(limit))") }
                }
            }
        }
    }
}

/// One kind's or pool's figures; in a file, any of them may be left out (the kind's, or the default, applies).
public struct InstanceModel: Sendable, Equatable, Codable {
    /// Participants an instance is sized for (what it registers as its capacity; a recorder takes one recording).
    public var participants: Int?
    /// Egress a bridge can send, Mbit/s (absent or 0: not a limit).
    public var egressMbps: Double?
    public var pricePerHour: Double?
    /// Seconds from the provider's launch to the machine running (the provider lists it from the launch).
    public var launchDelay: Double?
    /// Seconds from running to registered and reporting (booting, starting the server, joining the fleet).
    public var bootDelay: Double?

    public init(
        participants: Int? = nil, egressMbps: Double? = nil, pricePerHour: Double? = nil, launchDelay: Double? = nil,
        bootDelay: Double? = nil
    ) {
        (self.participants, self.egressMbps, self.pricePerHour) = (participants, egressMbps, pricePerHour)
        (self.launchDelay, self.bootDelay) = (launchDelay, bootDelay)
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case participants, egressMbps, pricePerHour, launchDelay, bootDelay }

    func overridden(by other: InstanceModel) -> InstanceModel {
        InstanceModel(
            participants: other.participants ?? participants, egressMbps: other.egressMbps ?? egressMbps,
            pricePerHour: other.pricePerHour ?? pricePerHour, launchDelay: other.launchDelay ?? launchDelay,
            bootDelay: other.bootDelay ?? bootDelay)
    }

    var capacity: Int { participants ?? 500 }
    /// Egress capacity in bytes per second; nil when egress is not a limit.
    var egressCapacity: Double? { egressMbps.flatMap { $0 > 0 ? $0 * 125_000 : nil } }
    var price: Double { pricePerHour ?? 0 }
    /// Seconds from launch to registered.
    var readyDelay: Double { (launchDelay ?? 0) + (bootDelay ?? 0) }
}

/// A model file that cannot be used, naming the key at fault.
public struct ModelError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
