public import PlazaAutoscaling
public import PlazaFleetModel
public import Foundation

/// The pool file (`plaza autoscaler --pools pools.json`): every pool the autoscaler keeps, annotated in
/// docs/autoscaling.md with a sample in deploy/autoscaling/pools.json.
public struct PoolFile: Codable, Sendable, Equatable {
    public var pools: [PoolConfiguration]

    public init(pools: [PoolConfiguration]) {
        self.pools = pools
    }

    /// Reads and checks a pool file; the error names the pool and field at fault. A pool that names no
    /// `provider` gets `defaultProvider` (`plaza serve --pools`: local); without one, every pool must name it.
    public static func load(path: String, defaultProvider: ProviderSettings? = nil) throws(PoolFileError) -> PoolFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PoolFileError("cannot read the pool file \(path): \(error.localizedDescription)")
        }
        return try parse(data, defaultProvider: defaultProvider)
    }

    public static func parse(_ data: Data, defaultProvider: ProviderSettings? = nil) throws(PoolFileError) -> PoolFile {
        let file: PoolFile
        let decoder = JSONDecoder()
        if let defaultProvider { decoder.userInfo[PoolConfiguration.defaultProviderKey] = defaultProvider }
        do { file = try decoder.decode(PoolFile.self, from: data) } catch let error as DecodingError {
            throw PoolFileError(PoolFileError.describe(error))
        } catch {
            throw PoolFileError("the pool file is not valid JSON: \(error)")
        }
        if let unknown = unknownKey(in: data, decoded: file) { throw PoolFileError("\(unknown.path): unknown key '\(unknown.key)'") }
        var names = Set<PoolName>()
        for pool in file.pools {
            guard names.insert(pool.name).inserted else { throw PoolFileError("pool '\(pool.name)' is declared twice") }
            try pool.validate()
        }
        return file
    }
}

/// The first key of the file that decoding ignored (a misspelt optional key would otherwise silently take its
/// default): every key must reappear where the decoded file, encoded again, has it. `adjustment` is the one
/// shorthand that encodes as something else (`steps`).
func unknownKey(in data: Data, decoded: PoolFile) -> (path: String, key: String)? {
    guard let input = try? JSONSerialization.jsonObject(with: data),
        let known = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded))
    else { return nil }
    func walk(_ input: Any, _ known: Any, _ path: String) -> (String, String)? {
        if let object = input as? [String: Any], let knownObject = known as? [String: Any] {
            for key in object.keys.sorted() {
                guard let value = knownObject[key] else {
                    if key == "adjustment", knownObject["steps"] != nil { continue }
                    return (path.isEmpty ? "the pool file" : path, key)
                }
                if let found = walk(object[key]!, value, path.isEmpty ? key : "\(path).\(key)") { return found }
            }
        } else if let array = input as? [Any], let knownArray = known as? [Any] {
            for (index, element) in array.enumerated() where index < knownArray.count {
                if let found = walk(element, knownArray[index], "\(path)[\(index)]") { return found }
            }
        }
        return nil
    }
    return walk(input, known, "")
}

/// A pool file that cannot work, naming the pool and field at fault, so a typo stops the autoscaler at start.
public struct PoolFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "the pool file" : String(path.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)): missing '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// One pool: its shape, limits, provider, policies, drain and health rules.
public struct PoolConfiguration: Codable, Sendable, Equatable {
    public var name: PoolName
    /// What the pool's instances are: decides where their load figures come from and how one is drained (a
    /// room server through the registry; a bridge or recorder through its agent; never a busy recorder scaled in).
    public var kind: NodeKind
    public var region: String
    public var min: Int
    public var max: Int
    /// Desired capacity when the pool is first declared; afterwards the policies and the operator set it.
    public var desired: Int
    /// Seconds between two reconcile passes: one datapoint per metric per pass. Every alarm's `period` must be
    /// this one.
    public var period: Double
    /// Seconds after launch before an instance's figures count (it is capacity from launch).
    public var warmup: Double
    public var provider: ProviderSettings
    public var policies: [ScalingPolicy]
    public var drain: DrainRule
    public var health: HealthCheck

    public init(
        name: PoolName, kind: NodeKind, region: String = "default", min: Int, max: Int, desired: Int? = nil,
        period: Double = 60, warmup: Double = 0, provider: ProviderSettings, policies: [ScalingPolicy] = [],
        drain: DrainRule = DrainRule(), health: HealthCheck = HealthCheck()
    ) {
        (self.name, self.kind, self.region, self.min, self.max) = (name, kind, region, min, max)
        self.desired = desired ?? min
        (self.period, self.warmup, self.provider, self.policies) = (period, warmup, provider, policies)
        (self.drain, self.health) = (drain, health)
    }

    enum CodingKeys: String, CodingKey {
        case name, kind, region, min, max, desired, period, warmup, provider, policies, drain, health
    }

    /// Where `PoolFile.parse` puts the provider of pools that name none.
    static let defaultProviderKey = CodingUserInfoKey(rawValue: "plaza.defaultProvider")!

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let min = try c.decode(Int.self, forKey: .min)
        let provider: ProviderSettings
        if let fallback = decoder.userInfo[Self.defaultProviderKey] as? ProviderSettings {
            provider = try c.decodeIfPresent(ProviderSettings.self, forKey: .provider) ?? fallback
        } else {
            provider = try c.decode(ProviderSettings.self, forKey: .provider)
        }
        self.init(
            name: try c.decode(PoolName.self, forKey: .name), kind: try c.decode(NodeKind.self, forKey: .kind),
            region: try c.decodeIfPresent(String.self, forKey: .region) ?? "default", min: min,
            max: try c.decode(Int.self, forKey: .max), desired: try c.decodeIfPresent(Int.self, forKey: .desired),
            period: try c.decodeIfPresent(Double.self, forKey: .period) ?? 60,
            warmup: try c.decodeIfPresent(Double.self, forKey: .warmup) ?? 0,
            provider: provider,
            policies: try c.decodeIfPresent([ScalingPolicy].self, forKey: .policies) ?? [],
            drain: try c.decodeIfPresent(DrainRule.self, forKey: .drain) ?? DrainRule(),
            health: try c.decodeIfPresent(HealthCheck.self, forKey: .health) ?? HealthCheck())
    }

    /// The limits and timings that decoding alone cannot check.
    public func validate() throws(PoolFileError) {
        let at = "pool '\(name)'"
        guard !name.rawValue.isEmpty, name.rawValue.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw PoolFileError("\(at): a name is letters, digits, '-' and '_'")
        }
        guard min >= 0, max >= min, (min...max).contains(desired) else {
            throw PoolFileError("\(at): needs 0 ≤ min ≤ desired ≤ max (min \(min), desired \(desired), max \(max))")
        }
        guard period > 0, warmup >= 0 else { throw PoolFileError("\(at): needs period > 0 and warmup ≥ 0") }
        guard drain.deadline > 0 else { throw PoolFileError("\(at): drain.deadline must be > 0") }
        guard health.unhealthyThreshold > 0, health.registrationGrace > 0, health.reportTTL > 0 else {
            throw PoolFileError("\(at): health needs unhealthyThreshold, registrationGrace and reportTTL > 0")
        }
        var policyNames = Set<String>()
        for policy in policies {
            guard policyNames.insert(policy.name).inserted else { throw PoolFileError("\(at): policy '\(policy.name)' is declared twice") }
            let metric: String
            switch policy {
            case .step(let step): metric = step.alarm.metric
            case .targetTracking(let tracking): metric = tracking.metric
            case .availability(let availability): metric = availability.metric
            }
            guard InstanceMetric(rawValue: metric) != nil else {
                throw PoolFileError(
                    "\(at): policy '\(policy.name)' reads '\(metric)', which no instance reports "
                        + "(\(InstanceMetric.allCases.map(\.rawValue).sorted().joined(separator: ", ")))")
            }
            if case .step(let step) = policy, step.alarm.period != period {
                throw PoolFileError(
                    "\(at): policy '\(step.name)' has an alarm period of \(step.alarm.period) s; it must be the pool's period (\(period) s)")
            }
        }
        try provider.validate(kind: kind, at: at)
    }
}

/// What scale-in does with a chosen instance.
public struct DrainRule: Codable, Sendable, Equatable {
    /// What happens when the deadline passes with participants (or a job) still on the instance.
    public enum AtDeadline: String, Codable, Sendable {
        /// Terminate it anyway; the activity records how many were still there.
        case terminate
        /// Keep it draining (and keep extending the provider's termination) until it is empty, logging every
        /// period past the deadline.
        case wait
    }

    /// Seconds a draining instance is given to empty.
    public var deadline: Double
    public var atDeadline: AtDeadline

    public init(deadline: Double = 3600, atDeadline: AtDeadline = .terminate) {
        (self.deadline, self.atDeadline) = (deadline, atDeadline)
    }

    enum CodingKeys: String, CodingKey { case deadline, atDeadline }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            deadline: try c.decodeIfPresent(Double.self, forKey: .deadline) ?? 3600,
            atDeadline: try c.decodeIfPresent(AtDeadline.self, forKey: .atDeadline) ?? .terminate)
    }
}

/// When an instance is unhealthy, and how long a new one has to register.
public struct HealthCheck: Codable, Sendable, Equatable {
    /// Consecutive failed checks (one per period) after which an instance is replaced: a new one is launched
    /// first, then the failing one terminated.
    public var unhealthyThreshold: Int
    /// Seconds a launched instance has to register before it is reported and terminated.
    public var registrationGrace: Double
    /// A check fails when the instance's last report (heartbeat) is older than this many seconds.
    public var reportTTL: Double

    public init(unhealthyThreshold: Int = 3, registrationGrace: Double = 300, reportTTL: Double = 15) {
        (self.unhealthyThreshold, self.registrationGrace) = (unhealthyThreshold, registrationGrace)
        self.reportTTL = reportTTL
    }

    enum CodingKeys: String, CodingKey { case unhealthyThreshold, registrationGrace, reportTTL }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            unhealthyThreshold: try c.decodeIfPresent(Int.self, forKey: .unhealthyThreshold) ?? 3,
            registrationGrace: try c.decodeIfPresent(Double.self, forKey: .registrationGrace) ?? 300,
            reportTTL: try c.decodeIfPresent(Double.self, forKey: .reportTTL) ?? 15)
    }
}
