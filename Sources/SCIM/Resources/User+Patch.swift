extension User {
    /// The user a PATCH leaves, read from the engine's `result` over `current`.
    ///
    /// - A custom field is read again only when the PATCH changed its attribute: one copied from an
    ///   attribute stored before it was mapped (enterprise costCenter) may not fit its type, and that
    ///   must not stop an unrelated PATCH such as a deactivation; the others keep `current`'s values.
    /// - A manager not provisioned yet is not rendered, so it is absent from the patched document:
    ///   `current`'s is kept unless this PATCH changed the manager.
    /// - Throws: `SCIMError` when the patched document is not a valid user.
    public init(
        patched result: PatchResult, current: User, customFields definitions: [CustomFieldDefinition]
    ) throws(SCIMError) {
        let changed = Set(result.changedAttributes.map { $0.lowercased() })
        let touched = definitions.filter { changed.contains($0.qualifiedName.lowercased()) }
        self = try User(json: result.resource, customFields: touched)
        for definition in definitions where !touched.contains(definition) {
            customFields[definition.key] = current.customFields[definition.key]
        }
        if managerReference == nil, !changed.contains(where: Self.namesManager) {
            managerReference = current.managerReference
        }
    }

    /// Whether a changed attribute's lowercased name (`manager`, or the enterprise extension's full
    /// path) is the manager.
    static func namesManager(_ lowercasedName: String) -> Bool { lowercasedName.hasSuffix("manager") }
}
