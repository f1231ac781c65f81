extension User {
    /// Names of the attributes that differ from `old` (all set attributes when there is no `old`):
    /// what the sync event log records, never the values.
    public func changedAttributes(from old: User?) -> [String] {
        let before = old ?? User(userName: "")
        var changed: [String] = []
        func note(_ name: String, _ differs: Bool) { if differs { changed.append(name) } }
        note("userName", userName != before.userName)
        note("externalId", externalID != before.externalID)
        note("name.givenName", givenName != before.givenName)
        note("name.familyName", familyName != before.familyName)
        note("name.formatted", formattedName != before.formattedName)
        note("displayName", displayName != before.displayName)
        note("emails", emails != before.emails)
        note("title", title != before.title)
        note("timezone", timezone != before.timezone)
        note("active", active != before.active || old == nil)
        note("employeeNumber", employeeNumber != before.employeeNumber)
        note("costCenter", costCenter != before.costCenter)
        note("organization", organization != before.organization)
        note("division", division != before.division)
        note("department", department != before.department)
        note("manager", managerReference != before.managerReference)
        note("hireDate", hireDate != before.hireDate)
        for name in Set(customFields.keys).union(before.customFields.keys).sorted()
        where customFields[name] != before.customFields[name] {
            changed.append(name)
        }
        return changed
    }
}
