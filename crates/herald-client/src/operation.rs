//! Every operation of the REST API, as the client calls it: a stable id (the OpenAPI document's
//! `operationId`), a method and a path template. A test checks this list against the document,
//! so an operation the server gains cannot go unnoticed here.

/// One operation of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The OpenAPI document's `operationId`.
    pub id: &'static str,
    pub method: &'static str,
    /// The path template, e.g. `/v1/tenants/{tenant}/endpoints/{endpoint}`.
    pub path: &'static str,
}

macro_rules! operations {
    ($($name:ident = $method:literal $path:literal $id:literal;)+) => {
        $(pub const $name: Operation = Operation { id: $id, method: $method, path: $path };)+
        /// Every operation, in the order of the API reference.
        pub const ALL: &[Operation] = &[$($name),+];
    };
}

operations! {
    CREATE_TENANT = "POST" "/v1/tenants" "postTenants";
    LIST_TENANTS = "GET" "/v1/tenants" "getTenants";
    GET_TENANT = "GET" "/v1/tenants/{tenant}" "getTenantsById";
    UPDATE_TENANT = "PATCH" "/v1/tenants/{tenant}" "patchTenantsById";
    DELETE_TENANT = "DELETE" "/v1/tenants/{tenant}" "deleteTenantsById";
    TENANT_STATS = "GET" "/v1/tenants/{tenant}/stats" "getTenantsStats";
    CREATE_KEY = "POST" "/v1/tenants/{tenant}/keys" "postTenantsKeys";
    LIST_KEYS = "GET" "/v1/tenants/{tenant}/keys" "getTenantsKeys";
    REVOKE_KEY = "DELETE" "/v1/tenants/{tenant}/keys/{key}" "deleteTenantsKeysById";
    CREATE_PORTAL_SESSION = "POST" "/v1/tenants/{tenant}/portal-sessions" "postTenantsPortalSessions";
    CREATE_EVENT_TYPE = "POST" "/v1/event-types" "postEventTypes";
    LIST_EVENT_TYPES = "GET" "/v1/event-types" "getEventTypes";
    GET_EVENT_TYPE = "GET" "/v1/event-types/{name}" "getEventTypesById";
    REPLACE_EVENT_TYPE = "PUT" "/v1/event-types/{name}" "putEventTypesById";
    UPDATE_EVENT_TYPE = "PATCH" "/v1/event-types/{name}" "patchEventTypesById";
    DELETE_EVENT_TYPE = "DELETE" "/v1/event-types/{name}" "deleteEventTypesById";
    CREATE_ENDPOINT = "POST" "/v1/tenants/{tenant}/endpoints" "postTenantsEndpoints";
    LIST_ENDPOINTS = "GET" "/v1/tenants/{tenant}/endpoints" "getTenantsEndpoints";
    GET_ENDPOINT = "GET" "/v1/tenants/{tenant}/endpoints/{endpoint}" "getTenantsEndpointsById";
    REPLACE_ENDPOINT = "PUT" "/v1/tenants/{tenant}/endpoints/{endpoint}" "putTenantsEndpointsById";
    UPDATE_ENDPOINT = "PATCH" "/v1/tenants/{tenant}/endpoints/{endpoint}" "patchTenantsEndpointsById";
    DELETE_ENDPOINT = "DELETE" "/v1/tenants/{tenant}/endpoints/{endpoint}" "deleteTenantsEndpointsById";
    TEST_ENDPOINT = "POST" "/v1/tenants/{tenant}/endpoints/{endpoint}/test" "postTenantsEndpointsTest";
    RECOVER_ENDPOINT = "POST" "/v1/tenants/{tenant}/endpoints/{endpoint}/recover" "postTenantsEndpointsRecover";
    ROTATE_SECRET = "POST" "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/rotate" "postTenantsEndpointsSecretRotate";
    RETIRE_PREVIOUS_SECRETS = "POST" "/v1/tenants/{tenant}/endpoints/{endpoint}/secret/retire-previous" "postTenantsEndpointsSecretRetirePrevious";
    ENDPOINT_STATS = "GET" "/v1/tenants/{tenant}/endpoints/{endpoint}/stats" "getTenantsEndpointsStats";
    PUBLISH_EVENT = "POST" "/v1/tenants/{tenant}/events" "postTenantsEvents";
    LIST_EVENTS = "GET" "/v1/tenants/{tenant}/events" "getTenantsEvents";
    GET_EVENT = "GET" "/v1/tenants/{tenant}/events/{event}" "getTenantsEventsById";
    LIST_DELIVERIES = "GET" "/v1/tenants/{tenant}/deliveries" "getTenantsDeliveries";
    GET_DELIVERY = "GET" "/v1/tenants/{tenant}/deliveries/{delivery}" "getTenantsDeliveriesById";
    RETRY_DELIVERY = "POST" "/v1/tenants/{tenant}/deliveries/{delivery}/retry" "postTenantsDeliveriesRetry";
    CREATE_BULK_RETRY = "POST" "/v1/tenants/{tenant}/bulk-retries" "postTenantsBulkRetries";
    GET_BULK_RETRY = "GET" "/v1/tenants/{tenant}/bulk-retries/{bulkRetry}" "getTenantsBulkRetriesById";
    LISTEN = "GET" "/v1/tenants/{tenant}/listen" "getTenantsListen";
}
