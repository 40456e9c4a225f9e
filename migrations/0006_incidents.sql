-- Incidents opened on a service. deployment_id is set when responders linked
-- the incident to a deployment; it is not a foreign key because incident
-- tools may name deployments that were never imported.
CREATE TABLE incidents (
    incident_id   text PRIMARY KEY,
    service       text NOT NULL REFERENCES services (name),
    environment   text, -- NULL: all environments
    opened_at     timestamptz NOT NULL,
    resolved_at   timestamptz,
    severity      text,
    deployment_id text
);

CREATE INDEX incidents_opened_idx ON incidents (opened_at, incident_id);
CREATE INDEX incidents_service_opened_idx ON incidents (service, opened_at);
CREATE INDEX incidents_deployment_idx ON incidents (deployment_id) WHERE deployment_id IS NOT NULL;
