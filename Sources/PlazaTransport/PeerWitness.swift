import PlazaHTTPClient
import PlazaFleetModel
import Foundation

/// Asks a node's peers whether they reach the fleet's store, by their `/readyz`: a node that cannot reach the
/// store answers `503 store_unavailable`, whatever else it is doing, and every answer says when the peer's last
/// heartbeat that reached the store was sent (`Plaza-Store-Reached-At`). A peer reaches the store only if it did
/// so after this node's heartbeats began to fail: a peer whose own heartbeat is still waiting on a store that is
/// down for everyone has not noticed yet, and its last contact is older.
struct PeerWitness: Sendable {
    enum Verdict: Equatable, Sendable {
        /// Every peer that answered cannot reach the store either: the store is down for the fleet.
        case storeDownEverywhere
        /// A peer reaches the store: this node alone is cut off from it.
        case storeReachableElsewhere
        /// No peer answered (or there is none): nothing is known, so the node assumes the worst.
        case noAnswer
    }

    /// The peers' public URLs.
    let peers: [String]
    /// How long each peer has to answer.
    let timeout: Duration
    /// When (fleet milliseconds) this node's first failed heartbeat was sent.
    let since: Int64?

    func ask() async -> Verdict {
        let answers = await withTaskGroup(of: Bool?.self) { group in
            for url in peers {
                group.addTask {
                    guard let answer = try? await HTTPCall(.GET, url + "/readyz", timeout: timeout, maximumBody: 4096).send() else {
                        return nil
                    }
                    if answer.status == 503 && answer.text.contains("\"store_unavailable\"") { return false }
                    guard let since, let reachedAt = answer.headers.first(name: "Plaza-Store-Reached-At").flatMap({ Int64($0) })
                    else { return true }
                    return reachedAt > since
                }
            }
            var answers: [Bool] = []
            for await answer in group { if let answer { answers.append(answer) } }
            return answers
        }
        return Self.verdict(answers)
    }

    /// The verdict of the peers' answers: for each peer that answered, whether it reaches the store.
    static func verdict(_ reachesStore: [Bool]) -> Verdict {
        if reachesStore.contains(true) { return .storeReachableElsewhere }
        return reachesStore.isEmpty ? .noAnswer : .storeDownEverywhere
    }
}
