import PlazaHTTPClient
import PlazaFleetModel
import Foundation

/// Asks a node's peers whether they reach the fleet's store, by their `/readyz`: a node that cannot reach the
/// store answers `503 store_unavailable`, whatever else it is doing, and every answer says when the peer's last
/// heartbeat that reached the store was sent, and when the fleet last came back from a silence (`StoreContact`).
/// A peer reaches the store only if it did so after this node's heartbeats began to fail: a peer whose own
/// heartbeat is still waiting on a store that is down for everyone has not noticed yet, and its last contact is
/// older.
struct PeerWitness: Sendable {
    enum Verdict: Equatable, Sendable {
        /// Every peer that answered cannot reach the store either: the store is down for the fleet.
        case storeDownEverywhere
        /// A peer reaches the store: this node alone is cut off from it.
        case storeReachableElsewhere
        /// The peers reach the store again after a silence of the whole fleet that began after this node's first
        /// failure (fleet milliseconds): the store was down for everyone and is back; this node's own connection
        /// is slower to come back.
        case fleetResumed(at: Int64)
        /// No peer answered (or there is none): nothing is known, so the node assumes the worst.
        case noAnswer
    }

    /// What one peer said.
    enum Answer: Equatable, Sendable {
        /// It cannot reach the store, or has not since this node's heartbeats began to fail.
        case storeUnreachable
        /// It reached the store since; the fleet last came back from a silence at `fleetResumedAt`.
        case reachesStore(fleetResumedAt: Int64?)
    }

    /// The peers' public URLs.
    let peers: [String]
    /// How long each peer has to answer.
    let timeout: Duration
    /// When (fleet milliseconds) this node's first failed heartbeat was sent.
    let failedAt: Int64?
    /// A peer's heartbeat counts as reaching the store only if it was sent this long after `failedAt`: the
    /// failing call may have gone out just before the store froze, and a peer's call sent a moment later, still
    /// before the freeze, succeeded.
    let slack: Int64

    func ask() async -> Verdict {
        let since = failedAt.map { $0 + slack }
        let answers = await withTaskGroup(of: Answer?.self) { group in
            for url in peers {
                group.addTask {
                    guard let answer = try? await HTTPCall(.GET, url + "/readyz", timeout: timeout, maximumBody: 4096).send() else {
                        return nil
                    }
                    if answer.status == 503 && answer.text.contains("\"store_unavailable\"") { return .storeUnreachable }
                    let contact = StoreContact { answer.headers.first(name: $0) }
                    guard let since, let contact else { return .reachesStore(fleetResumedAt: contact?.fleetResumedAt) }
                    return contact.reachedAt > since ? .reachesStore(fleetResumedAt: contact.fleetResumedAt) : .storeUnreachable
                }
            }
            var answers: [Answer] = []
            for await answer in group { if let answer { answers.append(answer) } }
            return answers
        }
        return Self.verdict(answers, failedAt: failedAt)
    }

    /// The verdict of the peers' answers, given when this node's first failed heartbeat was sent.
    static func verdict(_ answers: [Answer], failedAt: Int64?) -> Verdict {
        let resumptions = answers.compactMap { answer -> Int64?? in
            guard case .reachesStore(let resumedAt) = answer else { return nil }
            return .some(resumedAt)
        }
        if resumptions.isEmpty { return answers.isEmpty ? .noAnswer : .storeDownEverywhere }
        // Every peer that reaches the store must say the fleet resumed after this node began to fail; the store
        // keeps one such time, so they agree.
        let after = resumptions.compactMap { resumedAt in
            resumedAt.flatMap { resumedAt in failedAt.flatMap { resumedAt >= $0 ? resumedAt : nil } }
        }
        guard after.count == resumptions.count, let first = after.min() else { return .storeReachableElsewhere }
        return .fleetResumed(at: first)
    }
}
