import Hummingbird
import SCIM
import SCIMStore

/// Records one event per SCIM request in the organisation's log: reads and failures through the
/// buffer (flushed in batches), while successful writes were already recorded in their own transaction.
/// Each request also counts in `scim_organisation_requests_total`, with the event's outcome.
struct SyncEventMiddleware: RouterMiddleware {
    let buffer: EventBuffer
    let metrics: ServiceMetrics

    func handle(
        _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let tenant = context.tenant else { return try await next(request, context) }
        var context = context
        let origin = EventOrigin(
            requestID: context.requestID, clientRequestID: context.clientRequestID, tokenID: tenant.tokenID,
            method: request.method.rawValue, path: request.uri.path)
        context.origin = origin
        do {
            let response = try await next(request, context)
            let notes = context.notes.current
            metrics.recordOrganisationRequest(slug: tenant.slug, failed: response.status.code >= 400)
            if !notes.recordedInTransaction {
                buffer.append(
                    SyncEvent(
                        origin: origin, outcome: response.status.code < 400 ? .success : .error,
                        status: Int(response.status.code),
                        resourceType: notes.resourceType, resourceID: notes.resourceID, userName: notes.userName),
                    for: tenant)
            }
            return response
        } catch {
            let scimError = ErrorResponseMiddleware.scimError(for: error, logger: context.logger)
            let notes = context.notes.current
            metrics.recordOrganisationRequest(slug: tenant.slug, failed: true)
            buffer.append(
                SyncEvent(
                    origin: origin, outcome: .error, status: scimError.status, resourceType: notes.resourceType,
                    resourceID: notes.resourceID, userName: notes.userName, scimType: scimError.scimType?.rawValue,
                    detail: scimError.detail),
                for: tenant)
            throw scimError
        }
    }
}
