import Foundation
import Hummingbird
import SCIM

extension AttributeProjection {
    /// `attributes`/`excludedAttributes` from a query string, whose names SCIM treats case-insensitively.
    init(parameters: [String: String], resourceType: ResourceType) throws {
        let value = { (name: String) in parameters.first { $0.key.lowercased() == name.lowercased() }?.value }
        try self.init(
            attributes: value("attributes"), excludedAttributes: value("excludedAttributes"), resourceType: resourceType
        )
    }
}

extension TenantRequestContext {
    /// The `{id}` of a resource route. An id that is not a UUID cannot name anything: 404, as for
    /// any unknown id.
    func resourceID(_ resourceType: String) throws -> UUID {
        guard let text = parameters.get("id"), let id = UUID(uuidString: text) else {
            throw SCIMError.notFound("\(resourceType) \(parameters.get("id")?.prefix(64) ?? "") not found.")
        }
        return id
    }
}
