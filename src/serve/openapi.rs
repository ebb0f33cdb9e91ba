//! `GET /api`: the OpenAPI 3.0 definition of this server (OGC API Features' `oas30` class), built from
//! the same constants the handlers check, so the document and the server agree on parameters and limits.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::features::{Collection, DEFAULT_LIMIT, MAX_LIMIT};

/// The media type of the document.
pub const MEDIA_TYPE: &str = "application/vnd.oai.openapi+json;version=3.0";

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema, "style": "form", "explode": false })
}

fn response(description: &str, media_type: &str) -> Value {
    json!({ "description": description, "content": { media_type: { "schema": { "type": "object" } } } })
}

fn errors() -> Value {
    json!({
        "400": { "$ref": "#/components/responses/Error" },
        "401": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" },
    })
}

fn operation(id: &str, summary: &str, parameters: Vec<Value>, ok: Value) -> Value {
    let mut responses = errors();
    responses["200"] = ok;
    json!({ "operationId": id, "summary": summary, "parameters": parameters, "responses": responses })
}

/// The document.
pub fn definition(base: &str) -> Value {
    let f = query("f", "Output format: json only.", json!({ "type": "string", "enum": ["json"] }));
    let mut paths = serde_json::Map::new();
    paths.insert("/".into(), json!({ "get": operation("getLandingPage", "Landing page", vec![f.clone()], response("The landing page", "application/json")) }));
    paths.insert("/conformance".into(), json!({ "get": operation("getConformanceDeclaration", "Conformance classes", vec![f.clone()], response("Conformance classes", "application/json")) }));
    paths.insert("/api".into(), json!({ "get": operation("getAPI", "This document", vec![], response("The OpenAPI document", super::openapi::MEDIA_TYPE)) }));
    paths.insert("/collections".into(), json!({ "get": operation("getCollections", "Collections", vec![f.clone()], response("The collections", "application/json")) }));
    for c in Collection::ALL {
        let id = c.id();
        let mut params = vec![
            f.clone(),
            query(
                "limit",
                "Features per page.",
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }),
            ),
            query(
                "offset",
                "Features to skip (the next and prev links carry it).",
                json!({ "type": "integer", "minimum": 0, "default": 0 }),
            ),
            json!({ "name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
                    "description": "minLon,minLat,maxLon,maxLat in CRS84; features whose envelope meets it.",
                    "schema": { "type": "array", "minItems": 4, "maxItems": 6, "items": { "type": "number" } } }),
            query(
                "datetime",
                "A date, an RFC 3339 date-time or an interval A/B (.. for open).",
                json!({ "type": "string" }),
            ),
        ];
        for name in c.filters() {
            let schema = match *name {
                "kind" => {
                    json!({ "type": "string", "enum": ["construction", "earthworks", "idle_bare", "vegetation_loss"] })
                }
                "status" => json!({ "type": "string", "enum": ["new", "ongoing", "resolved"] }),
                "permitted" => json!({ "type": "boolean" }),
                "review" => {
                    json!({ "type": "string", "enum": ["confirmed", "false_alarm", "permitted", "remediated", "none"] })
                }
                _ => json!({ "type": "string" }),
            };
            params.push(query(name, &format!("Only features whose {name} is this."), schema));
        }
        paths.insert(format!("/collections/{id}"), json!({ "get": operation(&format!("describe{id}Collection"), &format!("The {id} collection"), vec![f.clone()], response("The collection", "application/json")) }));
        paths.insert(format!("/collections/{id}/items"), json!({ "get": operation(&format!("get{id}Features"), &format!("Features of {id}"), params, response("A page of features", "application/geo+json")) }));
        paths.insert(
            format!("/collections/{id}/items/{{featureId}}"),
            json!({ "get": operation(&format!("get{id}Feature"), &format!("One feature of {id} by its fid"),
                vec![f.clone(), json!({ "name": "featureId", "in": "path", "required": true, "schema": { "type": "integer" } })],
                response("The feature", "application/geo+json")) }),
        );
    }
    paths.insert("/changes".into(), json!({ "get": operation("getChanges", "The changefeed (jingtu export over HTTP)",
        vec![query("since", "Cursor of the previous feed (jt1:N), 0 for everything.", json!({ "type": "string", "default": "0" })),
             query("f", "ndjson (default) or geojson.", json!({ "type": "string", "enum": ["ndjson", "geojson"] }))],
        json!({ "description": "Changed flags; the next cursor in the Jingtu-Cursor header; Retry-After when empty.",
                "content": { "application/x-ndjson": { "schema": { "type": "string" } }, "application/geo+json": { "schema": { "type": "object" } } } })) }));
    let flag_id = json!({ "name": "flag_id", "in": "path", "required": true, "schema": { "type": "string" } });
    let mut post = operation(
        "postReview",
        "Record a field check of a flag (review token)",
        vec![flag_id.clone()],
        response("", "application/json"),
    );
    post["responses"] = json!({ "201": response("The review recorded", "application/json"), "400": { "$ref": "#/components/responses/Error" },
        "401": { "$ref": "#/components/responses/Error" }, "403": { "$ref": "#/components/responses/Error" },
        "404": { "$ref": "#/components/responses/Error" }, "413": { "$ref": "#/components/responses/Error" } });
    post["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {
        "type": "object", "required": ["outcome", "reviewer"], "additionalProperties": false,
        "properties": { "outcome": { "type": "string", "enum": ["confirmed", "false_alarm", "permitted", "remediated"] },
                        "note": { "type": "string", "maxLength": crate::store::reviews::MAX_NOTE_CHARS },
                        "reviewer": { "type": "string", "maxLength": crate::store::reviews::MAX_REVIEWER_CHARS } } } } } });
    paths.insert("/flags/{flag_id}/reviews".into(), json!({
        "get": operation("getReviews", "A flag's reviews, oldest first", vec![flag_id], response("The reviews", "application/json")),
        "post": post,
    }));
    json!({
        "openapi": "3.0.3",
        "info": { "title": "jingtu", "version": crate::flags::ENGINE_VERSION,
                  "description": "OGC API - Features (Part 1: Core, GeoJSON) over a jingtu store, its changefeed and flag reviews." },
        "servers": [{ "url": base }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "A token from jingtu token create" } },
            "responses": { "Error": { "description": "An error", "content": { "application/json": { "schema": {
                "type": "object", "properties": { "code": { "type": "string" }, "description": { "type": "string" } } } } } } }
        }
    })
}

/// The handler.
pub async fn document(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut response = definition(&state.base_url(&headers)).to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}
