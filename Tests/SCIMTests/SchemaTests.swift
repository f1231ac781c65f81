import Testing

@testable import SCIM

@Suite("Schema catalog and discovery")
struct SchemaTests {
    let user = PatchFixtures.userType

    @Test("names compare with ASCII letters folded and nothing else (RFC 7643 §2.1)")
    func asciiCaseFolding() {
        #expect("userName".caseInsensitiveEquals("USERNAME"))
        #expect("Schemas".caseInsensitiveEquals("sCHEMAs"))
        #expect("é".caseInsensitiveEquals("é"))
        #expect(!"a@b".caseInsensitiveEquals("a`b"), "0x40 and 0x60 differ by the case bit but are not letters")
        #expect(!"a[b".caseInsensitiveEquals("a{b"))
        #expect(!"userName".caseInsensitiveEquals("userNam"))
        #expect(!"é".caseInsensitiveEquals("É"), "only ASCII letters fold")
    }

    @Test(
        arguments: [
            ("userName", SchemaURN.user, "userName", nil),
            ("USERNAME", SchemaURN.user, "userName", nil),
            ("name.givenName", SchemaURN.user, "name", "givenName"),
            ("urn:ietf:params:scim:schemas:core:2.0:User:emails.value", SchemaURN.user, "emails", "value"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", SchemaURN.enterpriseUser,
                "manager", "value"
            ),
            (
                "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department", SchemaURN.enterpriseUser,
                "department", nil
            ),
            ("department", SchemaURN.enterpriseUser, "department", nil),
            (
                "urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:costCentre", SchemaURN.learnAmpUser,
                "costCentre", nil
            ),
            ("primaryTeam.display", SchemaURN.learnAmpUser, "primaryTeam", "display"),
        ] as [(String, String, String, String?)])
    func resolvesAttributes(text: String, schema: String, attribute: String, sub: String?) throws {
        let resolved = try #require(user.resolve(text))
        #expect(resolved.schemaURN == schema)
        #expect(resolved.attribute.name == attribute)
        #expect(resolved.subAttribute?.name == sub)
    }

    @Test(arguments: [
        "nickName", "name.middleName", "urn:example:x:y",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:title", "",
    ])
    func unknownAttributesResolveToNil(_ text: String) {
        #expect(user.resolve(text) == nil)
    }

    @Test func resolvesParsedAttributePaths() throws {
        let path = AttributePath(schema: SchemaURN.enterpriseUser, name: "manager", subAttribute: "value")
        #expect(user.resolve(path)?.qualifiedName == "\(SchemaURN.enterpriseUser):manager")
        #expect(user.resolve(AttributePath(name: "meta", subAttribute: "created"))?.isReadOnly == true)
    }

    @Test func theCatalogMarksServerOwnedAttributes() throws {
        let core = ResourceSchema.user
        #expect(core.attribute(named: "id")?.mutability == .readOnly)
        #expect(core.attribute(named: "id")?.returned == .always)
        #expect(core.attribute(named: "userName")?.required == true)
        #expect(core.attribute(named: "userName")?.uniqueness == .server)
        #expect(core.attribute(named: "groups")?.mutability == .readOnly)
        #expect(
            ResourceSchema.enterpriseUser.attribute(named: "manager")?.subAttribute(named: "displayName")?.mutability
                == .readOnly)
        #expect(
            ResourceSchema.group.attribute(named: "members")?.subAttribute(named: "value")?.mutability == .immutable)
        #expect(ResourceSchema.group.attribute(named: "displayName")?.uniqueness == .server)
    }

    /// The server computes a member's `display`, so /Schemas says `readOnly`; Okta sends one with each
    /// member, which input handling still checks and keeps (the group layer ignores it).
    @Test func memberDisplayIsReadOnlyYetOktasValueIsKept() throws {
        let display = try #require(ResourceSchema.group.attribute(named: "members")?.subAttribute(named: "display"))
        #expect(display.mutability == .readOnly)
        #expect(display.json.objectValue?["mutability"] == "readOnly")
        #expect(!display.isReadOnly)
        let body: JSONValue = [
            "schemas": [.string(SchemaURN.group)], "displayName": "G",
            "members": [["value": "u-1", "display": "Ada"]],
        ]
        let normalised = try Normaliser(resourceType: .group).normalise(resource: body)
        let member = normalised.value.objectValue?["members"]?.arrayValue?.first
        #expect(member?.objectValue?["display"] == "Ada")
        #expect(normalised.rewrites[.readOnlyIgnored] == nil)
        let wrongType: JSONValue = [
            "schemas": [.string(SchemaURN.group)], "displayName": "G", "members": [["value": "u-1", "display": 5]],
        ]
        #expect(throws: SCIMError.self) { try Normaliser(resourceType: .group).normalise(resource: wrongType) }
    }

    @Test func serviceProviderConfigAdvertisesTheLimits() {
        let limits = ServiceLimits(maxOperations: 50, maxPayloadSize: 2048, maxResults: 500, defaultResults: 25)
        let config = DiscoveryDocuments.serviceProviderConfig(baseURL: "https://scim.example/scim/v2", limits: limits)
        #expect(PatchFixtures.value(config, ["patch", "supported"]) == true)
        #expect(PatchFixtures.value(config, ["bulk", "supported"]) == false)
        #expect(PatchFixtures.value(config, ["bulk", "maxOperations"]) == 0)
        #expect(PatchFixtures.value(config, ["bulk", "maxPayloadSize"]) == 2048)
        #expect(PatchFixtures.value(config, ["filter", "maxResults"]) == 500)
        #expect(PatchFixtures.value(config, ["changePassword", "supported"]) == false)
        #expect(PatchFixtures.value(config, ["sort", "supported"]) == true)
        #expect(PatchFixtures.value(config, ["etag", "supported"]) == true)
        #expect(
            PatchFixtures.value(config, ["pagination"]) == [
                "cursor": true, "index": true, "defaultPaginationMethod": "index", "defaultPageSize": 25,
                "maxPageSize": 500, "cursorTimeout": 2_147_483_647,
            ])
        let scheme = config.objectValue?["authenticationSchemes"]?.arrayValue?.first
        #expect(scheme?.objectValue?["type"] == "oauthbearertoken")
        #expect(scheme?.objectValue?["primary"] == true)
        #expect(
            PatchFixtures.value(config, ["meta", "location"]) == "https://scim.example/scim/v2/ServiceProviderConfig")
    }

    @Test func defaultLimitsMatchTheSpecification() {
        let limits = ServiceLimits.default
        #expect(limits.maxOperations == 1000)
        #expect(limits.maxPayloadSize == 1_048_576)
        #expect(limits.maxResults == 1000)
        #expect(limits.defaultResults == 100)
        #expect(limits.maxFilterLength == 4096)
        #expect(limits.maxMembersPerRequest == 200_000)
        #expect(limits.maxGroupPayloadSize == 16_777_216)
    }

    @Test func resourceTypesListExtensionsAsOptional() throws {
        let types = DiscoveryDocuments.resourceTypes(baseURL: "https://x")
        let userType = try #require(types.first { $0.objectValue?["id"] == "User" })
        #expect(userType.objectValue?["endpoint"] == "/Users")
        #expect(userType.objectValue?["schema"] == .string(SchemaURN.user))
        #expect(
            userType.objectValue?["schemaExtensions"] == [
                ["schema": .string(SchemaURN.enterpriseUser), "required": false],
                ["schema": .string(SchemaURN.learnAmpUser), "required": false],
            ])
        let groupType = try #require(types.first { $0.objectValue?["id"] == "Group" })
        #expect(groupType.objectValue?["endpoint"] == "/Groups")
        #expect(PatchFixtures.value(groupType, ["meta", "location"]) == "https://x/ResourceTypes/Group")
    }

    @Test func schemasIncludeTheOrganisationsCustomFields() throws {
        let schemas = DiscoveryDocuments.schemas(baseURL: "https://x", customFields: PatchFixtures.customFields)
        #expect(
            schemas.compactMap { $0.objectValue?["id"]?.stringValue } == [
                SchemaURN.user, SchemaURN.enterpriseUser, SchemaURN.learnAmpUser, SchemaURN.group,
            ])
        for schema in schemas {
            #expect(PatchFixtures.value(schema, ["meta", "resourceType"]) == "Schema")
            let id = try #require(schema.objectValue?["id"]?.stringValue)
            #expect(PatchFixtures.value(schema, ["meta", "location"]) == .string("https://x/Schemas/\(id)"))
        }
        let learnAmp = try #require(schemas.first { $0.objectValue?["id"] == .string(SchemaURN.learnAmpUser) })
        let attributes = learnAmp.objectValue?["attributes"]?.arrayValue ?? []
        let byName = Dictionary(
            uniqueKeysWithValues: attributes.compactMap { attribute in
                attribute.objectValue?["name"]?.stringValue.map { ($0, attribute) }
            })
        #expect(
            Set(byName.keys) == ["hireDate", "primaryTeam", "costCentre", "level", "mentor", "probationEnds", "band"])
        #expect(byName["level"]?.objectValue?["type"] == "decimal")
        #expect(byName["mentor"]?.objectValue?["type"] == "boolean")
        #expect(byName["band"]?.objectValue?["canonicalValues"] == ["Junior", "Senior"])
        #expect(byName["primaryTeam"]?.objectValue?["mutability"] == "readOnly")
    }

    @Test func groupDiscoverySaysNestedGroupsAreNotSupported() throws {
        let group = DiscoveryDocuments.schema(.group, baseURL: "https://x")
        let members = try #require(
            group.objectValue?["attributes"]?.arrayValue?.first { $0.objectValue?["name"] == "members" })
        let description = try #require(members.objectValue?["description"]?.stringValue)
        #expect(description.contains("nested groups are not supported"))
    }

    @Test func attributeRepresentationFollowsRFC7643() {
        let json = ResourceSchema.user.attribute(named: "emails")!.json
        #expect(json.objectValue?["multiValued"] == true)
        #expect(json.objectValue?["type"] == "complex")
        #expect(json.objectValue?["subAttributes"]?.arrayValue?.count == 4)
        #expect(json.objectValue?["returned"] == "default")
    }
}
