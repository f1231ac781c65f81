import Foundation
import SCIMStore

/// How the console shows an organisation's health: the status route's verdict, except for an
/// organisation its identity provider has never reached.
///
/// The status route's verdict is a contract (the Learn Amp app shows it to customers) and calls a new
/// organisation `failing`, since nothing can connect yet. That is true but alarming on the day it is
/// created, so the console shows "Not connected yet" in a neutral badge with the next step instead,
/// and the overview keeps the verdict's reasons beside it. An offboarded organisation keeps its verdict.
struct ConsoleHealth: Equatable {
    /// The badge's text.
    var label: String
    /// The badge's style: `verdict-<style>`.
    var style: String
    /// Whether the identity provider has never sent a SCIM request (and the organisation is not offboarded).
    var notConnected: Bool
    /// Whether SCIM is switched off: the first of the next steps (then a credential, then Connect Okta).
    var scimOff: Bool
    /// Whether there is no live SCIM token and no OAuth client with a live secret.
    var needsCredential: Bool
    /// Whether the only credentials are OAuth clients: Microsoft Entra ID's way in, not Okta's.
    var oauthOnly: Bool

    init(_ status: OrganisationStatus, offboarded: Bool) {
        let verdict = status.health.verdict.rawValue
        notConnected = status.lastRequestAt == nil && !offboarded
        scimOff = !status.scimEnabled
        needsCredential = status.tokens.isEmpty && status.oauthClients.isEmpty
        oauthOnly = status.tokens.isEmpty && !status.oauthClients.isEmpty
        label = notConnected ? "Not connected yet" : verdict
        style = notConnected ? "new" : verdict
    }

    /// The next step in a few words, for the organisations list.
    var nextStep: String? {
        guard notConnected else { return nil }
        if scimOff { return "Next: switch SCIM on" }
        if needsCredential { return "Next: issue a token" }
        return oauthOnly ? "Next: connect Entra ID" : "Next: connect Okta"
    }

    var view: [String: Any] {
        [
            "label": label, "style": style, "notConnected": notConnected, "scimOff": scimOff,
            "needsCredential": needsCredential, "nextStep": nextStep as Any,
        ]
    }
}
