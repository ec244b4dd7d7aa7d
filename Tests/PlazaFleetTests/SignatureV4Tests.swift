import Foundation
import Testing
import PlazaFleetModel
import PlazaFleet

/// Signature Version 4 against AWS's published test suite (aws-sig-v4-test-suite: credentials AKIDEXAMPLE,
/// region us-east-1, service `service`, 20150830T123600Z).
struct SignatureV4Tests {
    static let signer = SignatureV4(
        credentials: .init(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "service")
    static let date = "20150830T123600Z"
    static let baseHeaders = [("Host", "example.amazonaws.com"), ("X-Amz-Date", date)]
    static let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var request: SignatureV4.Request
        var signedHeaders: String
        var signature: String
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "get-vanilla", request: .init(method: "GET", path: "/", headers: baseHeaders), signedHeaders: "host;x-amz-date",
             signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        Case(name: "post-vanilla", request: .init(method: "POST", path: "/", headers: baseHeaders), signedHeaders: "host;x-amz-date",
             signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        Case(name: "get-vanilla-query-order-key-case",
             request: .init(method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")], headers: baseHeaders),
             signedHeaders: "host;x-amz-date", signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        Case(name: "post-x-www-form-urlencoded",
             request: .init(
                method: "POST", path: "/", headers: [("Content-Type", "application/x-www-form-urlencoded")] + baseHeaders,
                body: Data("Param1=value1".utf8)),
             signedHeaders: "content-type;host;x-amz-date", signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        Case(name: "get-vanilla-utf8-query", request: .init(method: "GET", path: "/", query: [("ሴ", "bar")], headers: baseHeaders),
             signedHeaders: "host;x-amz-date", signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
        Case(name: "get-utf8", request: .init(method: "GET", path: "/ሴ", headers: baseHeaders), signedHeaders: "host;x-amz-date",
             signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        Case(name: "get-space", request: .init(method: "GET", path: "/example space/", headers: baseHeaders), signedHeaders: "host;x-amz-date",
             signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        Case(name: "get-vanilla-query-unreserved",
             request: .init(method: "GET", path: "/", query: [(unreserved, unreserved)], headers: baseHeaders),
             signedHeaders: "host;x-amz-date", signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ]

    @Test(arguments: cases)
    func signsAsTheTestSuiteSays(_ vector: Case) {
        #expect(
            Self.signer.authorization(vector.request, amzDate: Self.date)
                == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                + "SignedHeaders=\(vector.signedHeaders), Signature=\(vector.signature)")
    }

    @Test func canonicalRequestsAsTheTestSuiteSays() {
        #expect(SignatureV4.canonicalRequest(Self.cases[0].request).text == """
            GET
            /

            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(SignatureV4.canonicalRequest(Self.cases[3].request).text == """
            POST
            /

            content-type:application/x-www-form-urlencoded
            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            content-type;host;x-amz-date
            9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e
            """)
    }
}
