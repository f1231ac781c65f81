import Foundation
import HTTPTypes
import SCIM
import Testing

private let enterprise = SchemaURN.enterpriseUser
private let learn = SchemaURN.learnAmpUser
private let customer = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

/// Custom fields of every type, in every namespace a mapping may name.
private let mappings: JSONValue = [
    ["scimAttribute": .string("\(learn):grade"), "field": "grade", "type": "enum", "allowedValues": ["A", "B"]],
    ["scimAttribute": .string("\(learn):startedOn"), "field": "started_on", "type": "date"],
    ["scimAttribute": .string("\(learn):mentor"), "field": "mentor", "type": "boolean"],
    ["scimAttribute": .string("\(enterprise):costCenter"), "field": "cost_centre", "type": "string"],
    ["scimAttribute": .string("\(SchemaURN.user):nickName"), "field": "nick_name", "type": "string"],
    ["scimAttribute": .string("\(customer):badgeNumber"), "field": "badge_number", "type": "number"],
    ["scimAttribute": .string("\(customer):badgeColour"), "field": "badge_colour", "type": "string"],
]

/// Every attribute the service writes, checked against what the organisation's `/Schemas` and
/// `/ResourceTypes` declare: a generic client that validates responses against them (any
/// scim2-models client) must be able to read every resource, and must not be told a value it may
/// write when the server will ignore it, or the reverse.
@Suite("Rendered resources against the organisation's /Schemas: declared, typed, mutability kept")
struct RenderedSchemaTests {
    @Test("A fully populated User writes only declared attributes of their declared types, and covers them all")
    func populatedUser() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            try await org.mapCustomFields(mappings)
            let managerID = try await org.createUser(Users.email("manager"), extra: ["displayName": "The Manager"])
            let created = try await org.scim(.post, "/Users", json: Self.populatedUser(manager: managerID))
            try #require(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            let team = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Analysts",
                    "members": [["value": .string(id)]],
                ])
            try #require(team.status == .created, "\(team.text)")
            let catalog = try await Catalog(org, resourceType: "User")

            let read = try await org.scim(.get, "/Users/\(id)")
            let listed = try await org.scim(.get, "/Users?filter=\(Users.encode("id eq \"\(id)\""))")
            let fromList = try #require(listed["Resources"]?.arrayValue?.first)
            var seen = Set<String>()
            for (source, resource) in [
                ("POST", try #require(created.json)), ("GET", try #require(read.json)),
                ("list", fromList),
            ] {
                let problems = catalog.problems(in: resource, seen: &seen)
                #expect(problems.isEmpty, "\(source): \(problems.joined(separator: "\n"))")
            }
            // The populated user carries every attribute and sub-attribute declared.
            #expect(catalog.declaredPaths.subtracting(seen).sorted() == [], "declared but never written")

            // Writable values round-trip through PUT; read-only ones sent changed are ignored.
            let original = try #require(read.json)
            let tampered = catalog.tampered(original)
            #expect(tampered != original, "the user has read-only values to tamper with")
            let put = try await org.scim(.put, "/Users/\(id)", json: tampered)
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.json?.withoutMeta == original.withoutMeta)
        }
    }

    @Test("A Group with members writes only declared attributes, and ignores read-only values sent back")
    func populatedGroup() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let ada = try await org.createUser(Users.email("ada"), extra: ["displayName": "Ada"])
            let grace = try await org.createUser(Users.email("grace"))
            let created = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "externalId": "g-1", "displayName": "Sales",
                    "members": [["value": .string(ada), "display": "sent by Okta"], ["value": .string(grace)]],
                ])
            try #require(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            let catalog = try await Catalog(org, resourceType: "Group")

            let read = try await org.scim(.get, "/Groups/\(id)")
            let listed = try await org.scim(.get, "/Groups?filter=\(Users.encode("id eq \"\(id)\""))")
            let fromList = try #require(listed["Resources"]?.arrayValue?.first)
            var seen = Set<String>()
            for (source, resource) in [
                ("POST", try #require(created.json)), ("GET", try #require(read.json)),
                ("list", fromList),
            ] {
                let problems = catalog.problems(in: resource, seen: &seen)
                #expect(problems.isEmpty, "\(source): \(problems.joined(separator: "\n"))")
            }
            #expect(catalog.declaredPaths.subtracting(seen).sorted() == [], "declared but never written")
            let members = read["members"]?.arrayValue ?? []
            let first = members.first { $0[caseInsensitive: "value"]?.stringValue == ada }
            #expect(first?[caseInsensitive: "display"] == "Ada", "the server's display, not the one sent")

            let original = try #require(read.json)
            let tampered = catalog.tampered(original)
            #expect(tampered != original)
            let put = try await org.scim(.put, "/Groups/\(id)", json: tampered)
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.json?.withoutMeta == original.withoutMeta)
        }
    }

    private static func populatedUser(manager: String) -> JSONValue {
        let userName = Users.email("populated")
        return [
            "schemas": [.string(SchemaURN.user), .string(enterprise), .string(learn), .string(customer)],
            "externalId": "ext-1",
            "userName": .string(userName),
            "name": ["formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"],
            "displayName": "Ada Lovelace",
            "nickName": "Ada",
            "emails": [
                ["value": .string(userName), "type": "work", "primary": true, "display": "Ada at work"],
                ["value": .string(Users.email("home")), "type": "home", "primary": false],
            ],
            "title": "Analyst",
            "timezone": "Europe/London",
            "active": true,
            .init(stringLiteral: enterprise): [
                "employeeNumber": "E-1", "costCenter": "CC-9", "organization": "Acme", "division": "Engines",
                "department": "Engines", "manager": ["value": .string(manager)],
            ],
            .init(stringLiteral: learn): [
                "hireDate": "2020-01-31", "grade": "B", "startedOn": "2020-02-01", "mentor": true,
            ],
            .init(stringLiteral: customer): ["badgeNumber": 42.5, "badgeColour": "green"],
        ]
    }
}

/// What an organisation's discovery endpoints declare for one resource type.
private struct Catalog {
    /// Schema URN → its attributes, as `/Schemas` renders them.
    let attributes: [String: [JSONValue]]
    let core: String
    let extensions: [String]

    init(_ org: TestOrganisation, resourceType: String) async throws {
        let type = try await org.scim(.get, "/ResourceTypes/\(resourceType)")
        try #require(type.status == .ok)
        core = try #require(type["schema"]?.stringValue)
        extensions =
            type["schemaExtensions"]?.arrayValue?.compactMap { $0[caseInsensitive: "schema"]?.stringValue } ?? []
        var attributes: [String: [JSONValue]] = [:]
        for urn in [core] + extensions {
            let schema = try await org.scim(.get, "/Schemas/\(urn)")
            try #require(schema.status == .ok, "\(urn): \(schema.text)")
            attributes[urn] = schema["attributes"]?.arrayValue ?? []
        }
        self.attributes = attributes
    }

    /// `urn:…:name` and `urn:…:name.sub` for every declared attribute and sub-attribute.
    var declaredPaths: Set<String> {
        var paths = Set<String>()
        for (urn, list) in attributes {
            for attribute in list {
                let name = attribute.name
                paths.insert("\(urn):\(name)")
                for sub in attribute.subAttributes { paths.insert("\(urn):\(name).\(sub.name)") }
            }
        }
        return paths
    }

    /// Every way `resource` departs from the declarations; `seen` collects the declared paths it uses.
    func problems(in resource: JSONValue, seen: inout Set<String>) -> [String] {
        guard case .object(let object) = resource else { return ["the resource is not an object"] }
        var problems: [String] = []
        for (key, value) in object {
            switch key {
            case "schemas":
                let listed = value.arrayValue?.compactMap(\.stringValue) ?? []
                if !listed.contains(core) || !Set(listed).isSubset(of: Set([core] + extensions)) {
                    problems.append("schemas \(listed) must list \(core) and only declared extensions")
                }
                let carried = Set(object.keys.filter { extensions.contains($0) })
                if !carried.isSubset(of: Set(listed)) { problems.append("schemas omits \(carried)") }
            case "id":
                if value.stringValue == nil { problems.append("id must be a string") }
            case "meta":
                problems += Self.metaProblems(value)
            case _ where extensions.contains(key):
                guard case .object(let inner) = value else {
                    problems.append("\(key) must be an object")
                    continue
                }
                for (name, innerValue) in inner {
                    problems += check(innerValue, urn: key, name: name, seen: &seen)
                }
            default:
                problems += check(value, urn: core, name: key, seen: &seen)
            }
        }
        return problems
    }

    private func check(_ value: JSONValue, urn: String, name: String, seen: inout Set<String>) -> [String] {
        guard let attribute = attributes[urn]?.first(where: { $0.name == name }) else {
            return ["\(urn):\(name) is written but not declared"]
        }
        let path = "\(urn):\(name)"
        seen.insert(path)
        if attribute.bool("multiValued") {
            guard case .array(let elements) = value else { return ["\(path) is multi-valued but not an array"] }
            return elements.flatMap { single($0, attribute, path: path, seen: &seen) }
        }
        return single(value, attribute, path: path, seen: &seen)
    }

    private func single(_ value: JSONValue, _ attribute: JSONValue, path: String, seen: inout Set<String>) -> [String] {
        guard attribute.string("type") == "complex" else { return Self.typeProblems(value, attribute, path: path) }
        guard case .object(let object) = value else { return ["\(path) is complex but not an object"] }
        var problems: [String] = []
        for (key, subValue) in object {
            guard let sub = attribute.subAttributes.first(where: { $0.name == key }) else {
                problems.append("\(path).\(key) is written but not declared")
                continue
            }
            seen.insert("\(path).\(key)")
            problems += Self.typeProblems(subValue, sub, path: "\(path).\(key)")
        }
        return problems
    }

    private static func typeProblems(_ value: JSONValue, _ attribute: JSONValue, path: String) -> [String] {
        let type = attribute.string("type") ?? "?"
        let fits =
            switch (type, value) {
            case ("string", .string), ("reference", .string), ("binary", .string): true
            case ("dateTime", .string(let text)): isDateTime(text)
            case ("boolean", .bool): true
            case ("decimal", .number): true
            case ("integer", .number(let number)): number.rounded() == number
            default: false
            }
        return fits ? [] : ["\(path) is declared \(type) but written as \(value)"]
    }

    private static func metaProblems(_ meta: JSONValue) -> [String] {
        guard case .object(let object) = meta else { return ["meta must be an object"] }
        var problems: [String] = []
        for (key, value) in object {
            switch (key, value) {
            case ("created", .string(let text)), ("lastModified", .string(let text)):
                if !isDateTime(text) { problems.append("meta.\(key) is not a dateTime: \(text)") }
            case ("resourceType", .string), ("location", .string), ("version", .string): break
            default: problems.append("meta.\(key) is not one of RFC 7643 §3.1's sub-attributes of its type")
            }
        }
        return problems
    }

    private static func isDateTime(_ text: String) -> Bool {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if formatter.date(from: text) != nil { return true }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text) != nil
    }

    /// `resource` with every read-only value it carries changed (a string gets a suffix, a boolean
    /// flips), as a careless client would send it back.
    func tampered(_ resource: JSONValue) -> JSONValue {
        guard case .object(var object) = resource else { return resource }
        for (key, value) in object where key != "schemas" && key != "id" && key != "meta" {
            if extensions.contains(key), case .object(var inner) = value {
                for (name, innerValue) in inner {
                    inner[name] = tamper(innerValue, urn: key, name: name)
                }
                object[key] = .object(inner)
            } else {
                object[key] = tamper(value, urn: core, name: key)
            }
        }
        return .object(object)
    }

    private func tamper(_ value: JSONValue, urn: String, name: String) -> JSONValue {
        guard let attribute = attributes[urn]?.first(where: { $0.name == name }) else { return value }
        if attribute.string("mutability") == "readOnly" { return Self.changed(value) }
        func element(_ element: JSONValue) -> JSONValue {
            guard case .object(var object) = element else { return element }
            for sub in attribute.subAttributes where sub.string("mutability") == "readOnly" {
                if let current = object[sub.name] { object[sub.name] = Self.changed(current) }
            }
            return .object(object)
        }
        if case .array(let elements) = value { return .array(elements.map(element)) }
        return element(value)
    }

    private static func changed(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text + "-changed")
        case .bool(let flag): .bool(!flag)
        case .number(let number): .number(number + 1)
        case .array(let elements): .array(elements.map(changed))
        case .object(let object): .object(object.mapValues(changed))
        case .null: .null
        }
    }
}

extension JSONValue {
    fileprivate var name: String { string("name") ?? "" }
    fileprivate var subAttributes: [JSONValue] { self[caseInsensitive: "subAttributes"]?.arrayValue ?? [] }
    fileprivate func string(_ key: String) -> String? { self[caseInsensitive: key]?.stringValue }
    fileprivate func bool(_ key: String) -> Bool { self[caseInsensitive: key]?.boolValue ?? false }

    /// The resource without `meta`, whose version and lastModified a PUT moves on.
    fileprivate var withoutMeta: JSONValue {
        guard case .object(var object) = self else { return self }
        object["meta"] = nil
        return .object(object)
    }
}
