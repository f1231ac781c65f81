import Foundation

extension User {
    /// Builds and validates a user from a canonical resource body (after `Normaliser`).
    ///
    /// Read-only attributes (`id`, `meta`, `groups`, `primaryTeam`) are ignored, as RFC 7644 §3.3 asks.
    /// - Throws: `invalidValue` for wrong types, an unknown time zone, a malformed hire date or a custom
    ///   field that does not match its mapping; `invalidValue` when `userName` is missing.
    public init(json: JSONValue, customFields: [CustomFieldDefinition]) throws(SCIMError) {
        guard case .object = json else { throw .invalidSyntax("A User must be a JSON object.") }
        guard let userName = try Self.string(json, "userName"), !userName.isBlank
        else {
            throw .invalidValue("userName is required.")
        }
        self.init(userName: userName)
        externalID = try Self.string(json, "externalId")
        if let name = json[caseInsensitive: "name"], !name.isNull {
            guard case .object = name else { throw .invalidValue("name must be an object.") }
            givenName = try Self.string(name, "givenName", in: "name")
            familyName = try Self.string(name, "familyName", in: "name")
            formattedName = try Self.string(name, "formatted", in: "name")
        }
        displayName = try Self.string(json, "displayName")
        title = try Self.string(json, "title")
        timezone = try Self.string(json, "timezone")
        if let timezone, TimeZone(identifier: timezone) == nil || !timezone.contains("/") && timezone != "UTC" {
            throw .invalidValue("timezone must be an IANA time zone name such as \"Europe/London\".")
        }
        switch json[caseInsensitive: "active"] {
        case nil, .null?: active = true
        case .bool(let value)?: active = value
        default: throw .invalidValue("active must be a boolean.")
        }
        emails = try Self.emails(json[caseInsensitive: "emails"])
        // The login email (`primaryEmail`) is an email, or the userName when no email is sent.
        if emails.isEmpty, !Self.isEmailAddress(userName) {
            throw .invalidValue(
                "A user needs a login email: send emails with a primary email, or a userName that is an email address.")
        }

        if let enterprise = json[caseInsensitive: SchemaURN.enterpriseUser], !enterprise.isNull {
            guard case .object = enterprise else { throw .invalidValue("The enterprise extension must be an object.") }
            let scope = "enterprise extension"
            employeeNumber = try Self.string(enterprise, "employeeNumber", in: scope)
            costCenter = try Self.string(enterprise, "costCenter", in: scope)
            organization = try Self.string(enterprise, "organization", in: scope)
            division = try Self.string(enterprise, "division", in: scope)
            department = try Self.string(enterprise, "department", in: scope)
            switch enterprise[caseInsensitive: "manager"] {
            case nil, .null?: managerReference = nil
            case .string(let value)?:
                guard value.count <= Self.maximumStringLength else {
                    throw .invalidValue("manager is longer than \(Self.maximumStringLength) characters.")
                }
                managerReference = value.isEmpty ? nil : value
            case .object(let object)?:
                let value = try Self.string(.object(object), "value", in: "manager")
                managerReference = (value?.isEmpty ?? true) ? nil : value
            default: throw .invalidValue("manager must be an object with a value.")
            }
        }

        if let learnAmp = json[caseInsensitive: SchemaURN.learnAmpUser], !learnAmp.isNull {
            guard case .object(let attributes) = learnAmp else {
                throw .invalidValue("The Learn Amp extension must be an object.")
            }
            hireDate = try Self.string(learnAmp, "hireDate", in: "Learn Amp extension")
            if let hireDate, !Self.isCalendarDate(hireDate) {
                throw .invalidValue("hireDate must be a date in the form YYYY-MM-DD.")
            }
        }
        for definition in customFields {
            // Core attributes sit at the top level; every other namespace is an object under its URN.
            let container = definition.schemaURN == SchemaURN.user ? json : json[caseInsensitive: definition.schemaURN]
            guard case .object(let attributes)? = container,
                let value = attributes.first(where: { $0.key.caseInsensitiveEquals(definition.name) })?.value,
                !value.isNull
            else { continue }
            self.customFields[definition.key] = try definition.validatedValue(value)
        }
    }

    /// Longest accepted string attribute. userName, email, externalId and manager are indexed, and a
    /// Postgres btree entry must stay under ~2.7 kB: 512 characters are at most 2 kB of UTF-8.
    public static let maximumStringLength = 512

    private static func string(_ object: JSONValue, _ key: String, in scope: String? = nil) throws(SCIMError) -> String?
    {
        switch object[caseInsensitive: key] {
        case nil, .null?: return nil
        case .string(let value)?:
            guard value.count <= maximumStringLength else {
                throw .invalidValue(
                    "\(scope.map { "\($0)." } ?? "")\(key) is longer than \(maximumStringLength) characters.")
            }
            return value
        default:
            throw .invalidValue("\(scope.map { "\($0)." } ?? "")\(key) must be a string.")
        }
    }

    private static func emails(_ value: JSONValue?) throws(SCIMError) -> [Email] {
        guard let value, !value.isNull else { return [] }
        guard case .array(let elements) = value else { throw .invalidValue("emails must be an array.") }
        guard elements.count <= maximumEmails else {
            throw .invalidValue("A user may have at most \(maximumEmails) emails; \(elements.count) were sent.")
        }
        var emails: [Email] = []
        for element in elements {
            guard case .object = element else { throw .invalidValue("Each email must be an object with a value.") }
            guard let address = try string(element, "value", in: "emails"), !address.isEmpty else {
                throw .invalidValue("Each email needs a value.")
            }
            guard isEmailAddress(address) else {
                throw .invalidValue(
                    "emails.value must be an email address (one @, a local part and a domain, no spaces, at most "
                        + "\(maximumEmailLength) characters).")
            }
            let primary: Bool
            switch element[caseInsensitive: "primary"] {
            case nil, .null?: primary = false
            case .bool(let flag)?: primary = flag
            default: throw .invalidValue("emails.primary must be a boolean.")
            }
            emails.append(
                Email(
                    value: address, type: try string(element, "type", in: "emails"), primary: primary,
                    display: try string(element, "display", in: "emails")))
        }
        guard emails.filter(\.primary).count <= 1 else {
            throw .invalidValue("At most one email may be primary.")
        }
        return emails
    }

    /// Longest email address accepted: RFC 5321's 256-octet path less its angle brackets.
    public static let maximumEmailLength = 254
    /// A person has a few addresses (Okta sends one or two, Entra a handful); the cap keeps what every
    /// later step does with all of them (the erasure's scrub, exports, matching) small.
    public static let maximumEmails = 50

    /// Whether `text` is syntactically an email address, as far as provisioning needs: exactly one
    /// `@` with a non-empty local part and domain, no whitespace or control characters, at most
    /// `maximumEmailLength` characters. Deliverability is the identity provider's business.
    public static func isEmailAddress(_ text: String) -> Bool {
        guard text.count <= maximumEmailLength else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return !text.unicodeScalars.contains { scalar in
            scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
        }
    }

    /// `YYYY-MM-DD` naming a real calendar day.
    public static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), day >= 1
        else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }
}

extension User {
    /// Renders the full resource (before projection) as RFC 7643 JSON.
    public func json(metadata: UserMetadata, baseURL: String) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(metadata.id.lowercasedString),
            "userName": .string(userName),
            "active": .bool(active),
        ]
        var schemas: [JSONValue] = [.string(SchemaURN.user)]
        object["externalId"] = externalID.map(JSONValue.string)
        var name: [String: JSONValue] = [:]
        name["givenName"] = givenName.map(JSONValue.string)
        name["familyName"] = familyName.map(JSONValue.string)
        name["formatted"] = formattedName.map(JSONValue.string)
        if !name.isEmpty { object["name"] = .object(name) }
        object["displayName"] = displayName.map(JSONValue.string)
        object["title"] = title.map(JSONValue.string)
        object["timezone"] = timezone.map(JSONValue.string)
        if !emails.isEmpty {
            object["emails"] = .array(
                emails.map { email in
                    var element: [String: JSONValue] = ["value": .string(email.value), "primary": .bool(email.primary)]
                    element["type"] = email.type.map(JSONValue.string)
                    element["display"] = email.display.map(JSONValue.string)
                    return .object(element)
                })
        }
        if !metadata.groups.isEmpty {
            object["groups"] = .array(
                metadata.groups.map { group in
                    var element: [String: JSONValue] = [
                        "value": .string(group.id.lowercasedString),
                        "$ref": .string("\(baseURL)/Groups/\(group.id.lowercasedString)"),
                        "type": "direct",
                    ]
                    element["display"] = group.display.map(JSONValue.string)
                    return .object(element)
                })
        }

        var enterprise: [String: JSONValue] = [:]
        enterprise["employeeNumber"] = employeeNumber.map(JSONValue.string)
        enterprise["costCenter"] = costCenter.map(JSONValue.string)
        enterprise["organization"] = organization.map(JSONValue.string)
        enterprise["division"] = division.map(JSONValue.string)
        enterprise["department"] = department.map(JSONValue.string)
        if let manager = metadata.manager {
            var reference: [String: JSONValue] = [
                "value": .string(manager.id.lowercasedString),
                "$ref": .string("\(baseURL)/Users/\(manager.id.lowercasedString)"),
            ]
            reference["displayName"] = manager.display.map(JSONValue.string)
            enterprise["manager"] = .object(reference)
        }
        if !enterprise.isEmpty {
            object[SchemaURN.enterpriseUser] = .object(enterprise)
            schemas.append(.string(SchemaURN.enterpriseUser))
        }

        // Custom fields keyed by a full path belong to another namespace. One the server keeps in its
        // own column (enterprise `costCenter`) is rendered from that column above.
        var learnAmp: [String: JSONValue] = [:]
        var customer: [String: [String: JSONValue]] = [:]
        for (key, value) in customFields {
            guard let colon = key.lastIndex(of: ":") else {
                learnAmp[key] = value
                continue
            }
            let urn = String(key[..<colon])
            let name = String(key[key.index(after: colon)...])
            switch urn {
            case SchemaURN.enterpriseUser:
                continue
            case SchemaURN.user:
                if ResourceSchema.user.attribute(named: name) == nil { object[name] = value }
            default:
                customer[urn, default: [:]][name] = value
            }
        }
        learnAmp["hireDate"] = hireDate.map(JSONValue.string)
        if let team = metadata.primaryTeam {
            var reference: [String: JSONValue] = [
                "value": .string(team.id.lowercasedString),
                "$ref": .string("\(baseURL)/Groups/\(team.id.lowercasedString)"),
            ]
            reference["display"] = team.display.map(JSONValue.string)
            learnAmp["primaryTeam"] = .object(reference)
        }
        if !learnAmp.isEmpty {
            object[SchemaURN.learnAmpUser] = .object(learnAmp)
            schemas.append(.string(SchemaURN.learnAmpUser))
        }
        for urn in customer.keys.sorted() {
            object[urn] = customer[urn].map(JSONValue.object)
            schemas.append(.string(urn))
        }

        object["schemas"] = .array(schemas)
        object["meta"] = .object([
            "resourceType": "User",
            "created": .string(SCIMDate.format(metadata.created)),
            "lastModified": .string(SCIMDate.format(metadata.lastModified)),
            "location": .string("\(baseURL)/Users/\(metadata.id.lowercasedString)"),
            "version": .string(metadata.etag),
        ])
        return .object(object)
    }
}
