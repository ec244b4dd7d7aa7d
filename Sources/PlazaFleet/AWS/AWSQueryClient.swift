public import Foundation
import PlazaHTTPClient
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A client of AWS's Query APIs (EC2 Auto Scaling, CloudWatch): form-encoded `POST`s signed with Signature
/// Version 4, XML answers.
public struct AWSQueryClient: Sendable {
    public let endpoint: URL
    public let version: String
    let signer: SignatureV4

    /// `endpoint` is the service's base URL (`https://autoscaling.eu-west-1.amazonaws.com`); `service` its
    /// signing name (`autoscaling`, `monitoring`); `version` the API version (`2011-01-01`, `2010-08-01`).
    public init(endpoint: URL, region: String, service: String, version: String, credentials: SignatureV4.Credentials) {
        (self.endpoint, self.version) = (endpoint, version)
        self.signer = SignatureV4(credentials: credentials, region: region, service: service)
    }

    /// Calls `action` with `parameters`; returns the answer's XML, or throws the service's error.
    public func call(_ action: String, _ parameters: [(String, String)] = []) async throws -> QueryXML {
        let form = ([("Action", action), ("Version", version)] + parameters)
            .map { "\(SignatureV4.encode($0.0))=\(SignatureV4.encode($0.1))" }.joined(separator: "&")
        let body = Data(form.utf8)
        let amzDate = SignatureV4.amzDate(Date())
        var host = endpoint.host ?? ""
        if let port = endpoint.port { host += ":\(port)" }
        var headers = [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", host), ("X-Amz-Date", amzDate),
        ]
        if let token = signer.credentials.sessionToken { headers.append(("X-Amz-Security-Token", token)) }
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        let authorization = signer.authorization(.init(method: "POST", path: path, headers: headers, body: body), amzDate: amzDate)
        let answer = try await HTTPCall(
            .POST, endpoint.absoluteString, headers: headers.filter { $0.0 != "Host" } + [("Authorization", authorization)],
            body: Array(body), timeout: .seconds(30)
        ).send()
        let (status, data) = (answer.status, answer.body)
        let xml = QueryXML.parse(data)
        guard status == 200, let xml else {
            let code = xml?.first("Error")?.first("Code")?.text ?? "HTTP \(status)"
            let message = xml?.first("Error")?.first("Message")?.text ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw AWSError(action: action, code: code, message: message)
        }
        return xml
    }
}

/// An error answer of an AWS Query API, with the action that failed and AWS's own code and message.
public struct AWSError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var code: String
    public var message: String
    public var description: String { "\(action): \(code): \(message)" }
}

/// An XML element of a Query API answer: its name (without namespace), text and children.
public struct QueryXML: Sendable {
    public var name: String
    public var text: String
    public var children: [QueryXML]

    /// The first descendant (depth first) named `name`.
    public func first(_ name: String) -> QueryXML? {
        for child in children {
            if child.name == name { return child }
            if let found = child.first(name) { return found }
        }
        return nil
    }

    /// The direct children named `name`.
    public func all(_ name: String) -> [QueryXML] { children.filter { $0.name == name } }

    /// The text of the direct child `name`.
    public subscript(_ name: String) -> String? { children.first { $0.name == name }?.text }

    static func parse(_ data: Data) -> QueryXML? {
        let builder = Builder()
        let parser = XMLParser(data: data)
        parser.delegate = builder
        guard parser.parse() else { return nil }
        return builder.root
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [QueryXML] = []
        var root: QueryXML?

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            stack.append(QueryXML(name: name.split(separator: ":").last.map(String.init) ?? name, text: "", children: []))
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard var element = stack.popLast() else { return }
            element.text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
        }
    }
}
