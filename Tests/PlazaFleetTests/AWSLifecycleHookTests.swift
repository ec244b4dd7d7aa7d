import Foundation
import Hummingbird
import Logging
import Synchronization
import Testing
import PlazaFleetModel
import PlazaFleet
import PlazaTesting
import PlazaWebSocketClient

/// The `aws` provider's lifecycle-hook calls, which moto does not implement, against a small server answering
/// as the Auto Scaling Query API does (the documented XML shapes): a serving instance the group moved to
/// `Terminating:Wait` gets `RecordLifecycleActionHeartbeat` while it drains, and a termination completes the
/// hook with `CompleteLifecycleAction` once the instance waits in it. Each request is signed.
@Suite struct AWSLifecycleHookTests {
    /// The group's one instance and every request the fake got, as its form fields.
    final class FakeAutoScaling: Sendable {
        struct State {
            var lifecycleState = "InService"
            var requests: [[String: String]] = []
            var authorizations: [String] = []
        }
        let state = Mutex(State())
        let port: Int
        private let server = Mutex<Task<Void, any Error>?>(nil)

        init() throws {
            port = try LoopbackPort.free()
            let router = Router()
            let fake = self
            router.post("/") { request, _ in
                let body = String(buffer: try await request.body.collect(upTo: 16_384))
                var fields: [String: String] = [:]
                for item in URLComponents(string: "?" + body)?.queryItems ?? [] { fields[item.name] = item.value ?? "" }
                let action = fields["Action"] ?? ""
                let lifecycle: String = fake.state.withLock { state in
                    state.requests.append(fields)
                    state.authorizations.append(request.headers[.authorization] ?? "")
                    switch action {
                    case "TerminateInstanceInAutoScalingGroup": state.lifecycleState = "Terminating:Wait"
                    case "CompleteLifecycleAction": state.lifecycleState = "Terminating:Proceed"
                    default: break
                    }
                    return state.lifecycleState
                }
                let result = action == "DescribeAutoScalingGroups"
                    ? """
                    <DescribeAutoScalingGroupsResult><AutoScalingGroups><member>\
                    <AutoScalingGroupName>bridges-eu</AutoScalingGroupName><DesiredCapacity>1</DesiredCapacity>\
                    <Instances><member><InstanceId>i-0abc</InstanceId><LifecycleState>\(lifecycle)</LifecycleState>\
                    <ProtectedFromScaleIn>true</ProtectedFromScaleIn></member></Instances>\
                    </member></AutoScalingGroups></DescribeAutoScalingGroupsResult>
                    """
                    : "<\(action)Result/>"
                let xml = """
                    <\(action)Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">\(result)\
                    <ResponseMetadata><RequestId>7e1d</RequestId></ResponseMetadata></\(action)Response>
                    """
                return Response(status: .ok, headers: [.contentType: "text/xml"], body: .init(byteBuffer: ByteBuffer(string: xml)))
            }
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: Logger(label: "fake"))
            server.withLock { $0 = Task { try await app.runService(gracefulShutdownSignals: []) } }
        }

        var url: String { "http://127.0.0.1:\(port)/" }
        var actions: [String] { state.withLock { $0.requests.map { $0["Action"] ?? "" } } }
        func request(_ action: String) -> [String: String]? { state.withLock { $0.requests.last { $0["Action"] == action } } }
        func stop() { server.withLock { $0?.cancel() } }
    }

    @Test func theHookIsHeartbeatWhileDrainingAndCompletedOnTermination() async throws {
        let fake = try FakeAutoScaling()
        defer { fake.stop() }
        let provider = try AWSProvider(
            settings: AWSProviderSettings(
                autoScalingGroup: "bridges-eu", region: "eu-west-1", autoScalingEndpoint: fake.url, lifecycleHook: "drain-first"),
            credentials: AWSProviderTests.credentials)
        #expect(try await eventually { (try? await provider.group()) != nil }, "the fake answers")
        fake.state.withLock { $0.requests = [] }

        // In service: draining has nothing to extend.
        try await provider.draining("i-0abc")
        #expect(fake.actions == ["DescribeAutoScalingGroups"])

        // The group started terminating it (its own decision): each drain period extends the hook's timeout.
        fake.state.withLock { $0.lifecycleState = "Terminating:Wait" }
        try await provider.draining("i-0abc")
        let heartbeat = try #require(fake.request("RecordLifecycleActionHeartbeat"))
        #expect(heartbeat["AutoScalingGroupName"] == "bridges-eu" && heartbeat["LifecycleHookName"] == "drain-first")
        #expect(heartbeat["InstanceId"] == "i-0abc" && heartbeat["Version"] == "2011-01-01")

        // Plaza terminates it: the termination (decrementing the group), then the hook completed with CONTINUE.
        fake.state.withLock { $0.lifecycleState = "InService" }
        try await provider.terminate("i-0abc")
        let terminate = try #require(fake.request("TerminateInstanceInAutoScalingGroup"))
        #expect(terminate["InstanceId"] == "i-0abc" && terminate["ShouldDecrementDesiredCapacity"] == "true")
        let complete = try #require(fake.request("CompleteLifecycleAction"))
        #expect(complete["LifecycleHookName"] == "drain-first" && complete["LifecycleActionResult"] == "CONTINUE")
        #expect(complete["InstanceId"] == "i-0abc" && complete["AutoScalingGroupName"] == "bridges-eu")
        #expect(fake.actions.suffix(3) == ["TerminateInstanceInAutoScalingGroup", "DescribeAutoScalingGroups", "CompleteLifecycleAction"])

        // Every request is signed for the autoscaling service in the group's region.
        let authorizations = fake.state.withLock { $0.authorizations }
        #expect(authorizations.allSatisfy {
            $0.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDPLAZATEST/") && $0.contains("/eu-west-1/autoscaling/aws4_request")
                && $0.contains("Signature=")
        }, "\(authorizations)")
    }
}
