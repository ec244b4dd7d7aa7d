import Foundation
import Logging
import Testing
import PlazaFleetModel
import PlazaFleet
import PlazaPlacement
import PlazaPostgres
import PlazaStore
import PlazaTesting

/// The `aws` provider end to end against moto's server: an auto scaling group of bridges grows when the pool
/// launches (placeholders take the group's instance ids), serving instances are protected from the group's own
/// scale-in, scale-in terminates the drained instance and lowers the group's desired capacity, and the pool's
/// idle count goes to CloudWatch.
@Suite(.serialized) struct AWSProviderTests {
    static let credentials = SignatureV4.Credentials(accessKeyID: "AKIDPLAZATEST", secretAccessKey: "plaza-test-secret")

    @Test func anAutoScalingGroupFollowsThePool() async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let region = "eu-west-1"
        let autoScaling = AWSQueryClient(
            endpoint: URL(string: moto.url + "/")!, region: region, service: "autoscaling", version: "2011-01-01", credentials: Self.credentials)
        _ = try await autoScaling.call(
            "CreateLaunchConfiguration",
            [("LaunchConfigurationName", "bridges"), ("ImageId", "ami-0plaza"), ("InstanceType", "c5.xlarge")])
        _ = try await autoScaling.call(
            "CreateAutoScalingGroup",
            [
                ("AutoScalingGroupName", "bridges-eu"), ("LaunchConfigurationName", "bridges"), ("MinSize", "0"),
                ("MaxSize", "5"), ("DesiredCapacity", "0"), ("AvailabilityZones.member.1", "eu-west-1a"),
            ])

        let settings = AWSProviderSettings(
            autoScalingGroup: "bridges-eu", region: region, autoScalingEndpoint: moto.url + "/", cloudWatchEndpoint: moto.url + "/",
            publish: .init(namespace: "Jitsi/Bridges", metricName: "Idle", statistic: "Sum(idle)"))
        let provider = try AWSProvider(settings: settings, credentials: Self.credentials)
        let pool = PoolConfiguration(
            name: "bridges", kind: .jvb, region: "eu", min: 0, max: 5, desired: 2, period: 1, provider: .aws(settings),
            health: HealthCheck(unhealthyThreshold: 3, registrationGrace: 60, reportTTL: 15))
        let store = try await PostgresStore.open(url: try PostgresServer.shared().createDatabase(), logger: Logger(label: "test"))
        _ = try await store.declare(FleetPool(name: "bridges", kind: .jvb, region: "eu", min: 0, max: 5, desired: 2))
        var controller = PoolController(pool: pool, provider: provider, store: store, logger: Logger(label: "test")) {}
        let t0 = wallClockMilliseconds()

        // Two launches: the group's desired capacity goes to 2, twice asked launches nothing twice.
        try await controller.reconcile(now: t0)
        var group = try await provider.group()
        #expect(group.desired == 2 && group.instances.count == 2)
        try await controller.reconcile(now: t0 + 1_000)
        group = try await provider.group()
        #expect(group.desired == 2 && group.instances.count == 2)
        let ids = Set(group.instances.map { InstanceID($0.id) })
        #expect(Set(try await store.instances(pool: "bridges", includeTerminated: false).map(\.id)) == ids, "placeholders took the ids")

        // Their agents register: serving, and protected from the group's own scale-in.
        for (index, id) in ids.sorted().enumerated() {
            try await store.register(NodeRegistration(id: id.node, url: "wss://\(id).test", region: "eu", capacity: 500), now: t0 + 1_500)
            _ = try await store.report(node: id.node, NodeReport(participants: index == 0 ? 0 : 40), now: t0 + 1_500)
        }
        try await controller.reconcile(now: t0 + 2_000)
        group = try await provider.group()
        #expect(group.instances.allSatisfy { $0.protected })

        // Scale-in: the idle one drains, then goes; the group's desired capacity follows.
        #expect(try await store.setDesired(pool: "bridges", desired: 1))
        try await controller.reconcile(now: t0 + 3_000)
        let idle = ids.sorted()[0]
        #expect(try await store.instances(pool: "bridges", includeTerminated: false).first { $0.id == idle }?.state == .draining)
        _ = try await store.report(node: idle.node, NodeReport(state: .draining), now: t0 + 3_500)
        _ = try await store.report(node: ids.sorted()[1].node, NodeReport(participants: 40), now: t0 + 3_500)
        try await controller.reconcile(now: t0 + 4_000)
        group = try await provider.group()
        #expect(group.desired == 1 && group.instances.map(\.id) == [ids.sorted()[1].rawValue])

        // The pool's idle count reached CloudWatch.
        let cloudWatch = AWSQueryClient(
            endpoint: URL(string: moto.url + "/")!, region: region, service: "monitoring", version: "2010-08-01", credentials: Self.credentials)
        let metrics = try await cloudWatch.call("ListMetrics", [("Namespace", "Jitsi/Bridges")])
        #expect(metrics.first("Metrics")?.all("member").contains { $0["MetricName"] == "Idle" } == true)

        // A refusal from the API is an error with its code.
        await #expect(throws: AWSError.self) {
            _ = try await autoScaling.call("SetDesiredCapacity", [("AutoScalingGroupName", "no-such-group"), ("DesiredCapacity", "1")])
        }
        try await store.close()
    }
}
