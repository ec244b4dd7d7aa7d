public import ArgumentParser
import Foundation
import PlazaRoles

/// `plaza secrets`: the secrets production needs, generated once and kept out of sight.
struct SecretsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Write the secrets a production setup needs: plaza.json for --config and plaza.env for compose.",
        discussion: """
            Generates the room-token secret (auth.secret), the admin token (auth.adminToken), the TURN secret \
            (turn.secret) and, with --for fleet, a PostgreSQL password (and the store URL that uses it). Both files \
            are written with mode 0600; an existing file is never replaced without --force. Prints where they are \
            and what to run next, never a secret.
            """,
        subcommands: [Generate.self, Rotate.self],
        defaultSubcommand: Generate.self
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "generate", abstract: "Write new secrets (the default).")

        @Option(help: "The folder to write plaza.json and plaza.env into.") var out = "."
        @Option(name: .customLong("for"), help: "serve (one server) or fleet (adds a PostgreSQL password).")
        var setup: ProductionSecrets.Setup = .serve
        @Flag(help: "Replace existing files (every secret changes: tokens in flight are refused).") var force = false

        func run() throws {
            let folder = SecretsFolder(out)
            do {
                try folder.write(.generate(for: setup), force: force)
            } catch let failure as SecretsFolder.Failure {
                throw CommandFailure(description: failure.description)
            }
            let config = folder.configurationFile.path, env = folder.environmentFile.path
            print("wrote \(config) (for --config) and \(env) (for compose's env_file), mode 0600")
            switch setup {
            case .serve:
                print("next: plaza serve --config \(config)")
            case .fleet:
                print("next: create the database user with that password (docs/deploy.md), then")
                print("      plaza directory --config \(config) and plaza node --config \(config) --public-url <its URL>")
            }
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the room-token secret, keeping the old one accepted until its tokens expire.",
            discussion: """
                The current auth.secret moves to auth.previousSecrets (the newest \(SecretsFolder.keptPreviousSecrets) \
                are kept) in plaza.json, and in plaza.env when it exists. Restart Plaza to sign with the new secret; \
                tokens signed with a previous one stay valid until they expire, so nobody is dropped.
                """)

        @Option(help: "The folder holding plaza.json (and plaza.env).") var out = "."

        func run() throws {
            let folder = SecretsFolder(out)
            let rotated: (keyID: String, previous: Int)
            do {
                rotated = try folder.rotate()
            } catch let failure as SecretsFolder.Failure {
                throw CommandFailure(description: failure.description)
            }
            print("rotated the room-token secret in \(folder.configurationFile.path): new key id \(rotated.keyID), \(rotated.previous) previous kept")
            print("next: restart Plaza (tokens signed with a previous secret stay valid until they expire)")
        }
    }
}

extension ProductionSecrets.Setup: ExpressibleByArgument {}
