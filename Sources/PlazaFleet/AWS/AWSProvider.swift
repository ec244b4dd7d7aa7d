public import PlazaFleetModel
import Foundation

/// A pool's `aws` provider settings: one EC2 Auto Scaling group.
public struct AWSProviderSettings: Codable, Sendable, Equatable {
    public var autoScalingGroup: String
    public var region: String
    /// Service endpoints; default AWS's for the region (set them for a compatible API, or a test server).
    public var autoScalingEndpoint: String?
    public var cloudWatchEndpoint: String?
    /// A termination lifecycle hook on the group: terminations complete it (`CompleteLifecycleAction` with
    /// `CONTINUE`), and a draining instance waiting in it keeps it alive (`RecordLifecycleActionHeartbeat`).
    public var lifecycleHook: String?
    /// Publishes one pool statistic to CloudWatch every period (`PutMetricData`), e.g. the recorders'
    /// availability for the operator's dashboards and alarms.
    public var publish: Publish?

    /// A pool statistic published to CloudWatch every period, for operators whose own alarms or dashboards read it.
    public struct Publish: Codable, Sendable, Equatable {
        public var namespace: String
        /// The CloudWatch metric name.
        public var metricName: String
        /// Which pool statistic: `Sum(idle)`, `Sum(participants)`, …
        public var statistic: String

        public init(namespace: String, metricName: String, statistic: String) {
            (self.namespace, self.metricName, self.statistic) = (namespace, metricName, statistic)
        }
    }

    public init(
        autoScalingGroup: String, region: String, autoScalingEndpoint: String? = nil, cloudWatchEndpoint: String? = nil,
        lifecycleHook: String? = nil, publish: Publish? = nil
    ) {
        (self.autoScalingGroup, self.region) = (autoScalingGroup, region)
        (self.autoScalingEndpoint, self.cloudWatchEndpoint) = (autoScalingEndpoint, cloudWatchEndpoint)
        (self.lifecycleHook, self.publish) = (lifecycleHook, publish)
    }
}

/// Instances of an EC2 Auto Scaling group through its Query API, signed with the environment's credentials
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
///
/// The group names its instances, so a launch raises its desired capacity to the pool's count
/// (`SetDesiredCapacity` with the larger of the two: asking twice launches nothing twice) and the autoscaler
/// gives the placeholder it recorded the id of the next new instance. Every serving instance is protected from
/// the group's own scale-in (`SetInstanceProtection`): Plaza alone chooses what goes, drains it, then terminates
/// it and lowers the desired capacity with it (`TerminateInstanceInAutoScalingGroup` with
/// `ShouldDecrementDesiredCapacity`). Each instance must register under its EC2 instance id (`plaza node
/// --node-id` or `plaza agent --instance-id`, from the instance metadata).
public struct AWSProvider: InstanceProvider {
    let settings: AWSProviderSettings
    let autoScaling: AWSQueryClient
    let cloudWatch: AWSQueryClient

    public init(settings: AWSProviderSettings, credentials: SignatureV4.Credentials) throws {
        self.settings = settings
        func endpoint(_ configured: String?, _ service: String) throws -> URL {
            let text = configured ?? "https://\(service).\(settings.region).amazonaws.com/"
            guard let url = URL(string: text) else { throw ProviderError("\(text) is not a URL") }
            return url
        }
        autoScaling = AWSQueryClient(
            endpoint: try endpoint(settings.autoScalingEndpoint, "autoscaling"), region: settings.region, service: "autoscaling",
            version: "2011-01-01", credentials: credentials)
        cloudWatch = AWSQueryClient(
            endpoint: try endpoint(settings.cloudWatchEndpoint, "monitoring"), region: settings.region, service: "monitoring",
            version: "2010-08-01", credentials: credentials)
    }

    public var choosesIDs: Bool { true }

    /// The group as `DescribeAutoScalingGroups` shows it.
    public struct Group: Sendable, Equatable {
        public var desired: Int
        public var instances: [Instance]

        /// An instance of the Auto Scaling group, as DescribeAutoScalingGroups lists it.
        public struct Instance: Sendable, Equatable {
            public var id: String
            public var lifecycleState: String
            public var protected: Bool
        }
    }

    public func group() async throws -> Group {
        let answer = try await autoScaling.call("DescribeAutoScalingGroups", [("AutoScalingGroupNames.member.1", settings.autoScalingGroup)])
        guard let group = answer.first("AutoScalingGroups")?.all("member").first else {
            throw ProviderError("no auto scaling group named \(settings.autoScalingGroup)")
        }
        let instances = group.first("Instances")?.all("member").map { member in
            Group.Instance(
                id: member["InstanceId"] ?? "", lifecycleState: member["LifecycleState"] ?? "",
                protected: member["ProtectedFromScaleIn"] == "true")
        } ?? []
        return Group(desired: Int(group["DesiredCapacity"] ?? "") ?? 0, instances: instances)
    }

    public func launch(_ request: LaunchRequest) async throws {
        let group = try await group()
        guard request.capacity > group.desired else { return }
        _ = try await autoScaling.call(
            "SetDesiredCapacity",
            [("AutoScalingGroupName", settings.autoScalingGroup), ("DesiredCapacity", String(request.capacity)), ("HonorCooldown", "false")])
    }

    public func terminate(_ instance: InstanceID) async throws {
        let id = instance.rawValue
        guard let instance = try await group().instances.first(where: { $0.id == id }) else { return }
        if !instance.lifecycleState.hasPrefix("Terminating") {
            _ = try await autoScaling.call(
                "TerminateInstanceInAutoScalingGroup", [("InstanceId", id), ("ShouldDecrementDesiredCapacity", "true")])
        }
        guard let hook = settings.lifecycleHook else { return }
        // The instance reaches the hook's wait state a moment after the termination starts; until then there is
        // nothing to complete, and the autoscaler calls again next period (the instance stays `terminating`).
        for _ in 0..<20 {
            switch try await group().instances.first(where: { $0.id == id })?.lifecycleState {
            case "Terminating:Wait":
                _ = try await autoScaling.call(
                    "CompleteLifecycleAction",
                    [
                        ("AutoScalingGroupName", settings.autoScalingGroup), ("LifecycleHookName", hook), ("InstanceId", id),
                        ("LifecycleActionResult", "CONTINUE"),
                    ])
                return
            case nil, "Terminating:Proceed", "Terminated":
                return
            default:
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw ProviderError("\(id) has not reached the lifecycle hook's wait state yet")
    }

    /// Running and starting instances: not those on their way out.
    public func list() async throws -> [ProviderInstance] {
        try await group().instances.filter { instance in
            !["Terminating", "Terminated", "Detaching", "Detached"].contains { instance.lifecycleState.hasPrefix($0) }
        }.map { ProviderInstance(id: InstanceID($0.id)) }
    }

    public func protect(_ instance: InstanceID) async throws {
        let id = instance.rawValue
        _ = try await autoScaling.call(
            "SetInstanceProtection",
            [
                ("AutoScalingGroupName", settings.autoScalingGroup), ("InstanceIds.member.1", id),
                ("ProtectedFromScaleIn", "true"),
            ])
    }

    /// Keeps an instance that waits in the termination lifecycle hook (the group started its termination) alive
    /// while it drains.
    public func draining(_ instance: InstanceID) async throws {
        let id = instance.rawValue
        guard let hook = settings.lifecycleHook,
            try await group().instances.contains(where: { $0.id == id && $0.lifecycleState == "Terminating:Wait" })
        else { return }
        _ = try await autoScaling.call(
            "RecordLifecycleActionHeartbeat",
            [("AutoScalingGroupName", settings.autoScalingGroup), ("LifecycleHookName", hook), ("InstanceId", id)])
    }

    public func publish(_ statistics: [String: Double]) async throws {
        guard let publish = settings.publish, let value = statistics[publish.statistic] else { return }
        _ = try await cloudWatch.call(
            "PutMetricData",
            [
                ("Namespace", publish.namespace), ("MetricData.member.1.MetricName", publish.metricName),
                ("MetricData.member.1.Value", String(value)), ("MetricData.member.1.Unit", "Count"),
                ("MetricData.member.1.Dimensions.member.1.Name", "AutoScalingGroupName"),
                ("MetricData.member.1.Dimensions.member.1.Value", settings.autoScalingGroup),
            ])
    }
}
