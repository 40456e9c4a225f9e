-- faultline_labeler: the role that user-defined SQL labeling functions run
-- under (package labeling; docs/security.md, "SQL labeling functions"). It
-- cannot log in; a DBA makes a login role a member of it and points
-- labeling.sql_dsn at that login. It may read the history tables a
-- labeling function needs, and nothing else: not annotations, not
-- simulation_truth, not the registry or the run records.
--
-- Roles are shared by every database of a cluster, and creating one needs
-- CREATEROLE. faultline_grant_labeler therefore creates the role only when it
-- is missing and the current role may create it (otherwise it says so in a
-- NOTICE and leaves the schema migrated), and then makes the role's
-- privileges in this database exactly the intended ones, changing nothing
-- when they already are. `faultline db migrate` calls it again on every run
-- (migrations.Up), so a role created by a DBA after this migration gets its
-- privileges then. It returns the role's state as one line of text.
--
-- Partitioned tables: a query through the parent (metrics, error_signatures)
-- checks the privileges of the parent only, so monthly partitions created
-- later need no grant; a partition named directly is refused.
CREATE FUNCTION faultline_grant_labeler(role_name text DEFAULT 'faultline_labeler')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    -- The history tables a labeling function may read.
    readable text[] := ARRAY['services', 'deployments', 'series', 'metrics',
                             'error_fingerprints', 'error_signatures', 'incidents'];
    t       text;
    rel     regclass;
    schema  text := current_schema();
    nsp     oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
    granted int := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'role % does not exist and role % may not create it (no CREATEROLE): SQL labeling functions will be refused until a DBA runs CREATE ROLE % NOLOGIN and then faultline db migrate (docs/security.md)',
                role_name, current_user, role_name;
            RETURN format('%s: absent (%s lacks CREATEROLE; see docs/security.md)', role_name, current_user);
        END IF;
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by a migration of another database
        END;
    END IF;

    -- A role that may not grant here (it owns neither the schema nor the
    -- tables) gets a warning, not a failed migrate: the tables may have been
    -- created by another role, which can apply the privileges instead.
    BEGIN
        IF NOT has_schema_privilege(role_name, schema, 'USAGE') THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', schema, role_name);
        END IF;
        FOREACH t IN ARRAY readable LOOP
            rel := to_regclass(format('%I.%I', schema, t));
            CONTINUE WHEN rel IS NULL;
            IF NOT has_table_privilege(role_name, rel, 'SELECT') THEN
                EXECUTE format('GRANT SELECT ON %s TO %I', rel, role_name);
            END IF;
            IF has_table_privilege(role_name, rel, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') THEN
                EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s FROM %I', rel, role_name);
            END IF;
            granted := granted + 1;
        END LOOP;

        -- Every other relation of the schema (annotations, simulation_truth, the
        -- registry, the run records, partitions named directly, sequences): no
        -- privilege at all, table or column, that the role holds itself.
        FOR rel IN
            SELECT c.oid::regclass FROM pg_class c
            WHERE c.relnamespace = nsp
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND NOT (c.relname = ANY (readable))
              AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a
                          JOIN pg_roles r ON r.oid = a.grantee WHERE r.rolname = role_name)
        LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %I', rel, role_name);
        END LOOP;
        FOR rel, t IN
            SELECT DISTINCT c.oid::regclass, a.attname FROM pg_class c
            JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE c.relnamespace = nsp
              AND NOT (c.relname = ANY (readable))
              AND EXISTS (SELECT 1 FROM aclexplode(a.attacl) x
                          JOIN pg_roles r ON r.oid = x.grantee WHERE r.rolname = role_name)
        LOOP
            EXECUTE format('REVOKE ALL (%I) ON %s FROM %I', t, rel, role_name);
        END LOOP;

        -- What the role can still read through PUBLIC or another role it belongs
        -- to is beyond this function; Faultline refuses to run SQL functions as a
        -- session that can read these tables (labeling.checkSession).
        FOREACH t IN ARRAY ARRAY['annotations', 'simulation_truth'] LOOP
            rel := to_regclass(format('%I.%I', schema, t));
            IF rel IS NOT NULL AND has_any_column_privilege(role_name, rel, 'SELECT') THEN
                RAISE WARNING 'role % can still read % through PUBLIC or a role it belongs to; SQL labeling functions will be refused', role_name, rel;
            END IF;
        END LOOP;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'privileges of role % not applied: %; run faultline db migrate as the owner of the tables', role_name, SQLERRM;
        RETURN format('%s: privileges not applied (%s)', role_name, SQLERRM);
    END;
    RETURN format('%s: SELECT on %s history tables of schema %s', role_name, granted, schema);
END
$$;

-- Only the owner (the migrating role) applies it; it also needs to own the
-- tables to grant on them.
REVOKE EXECUTE ON FUNCTION faultline_grant_labeler(text) FROM PUBLIC;

SELECT faultline_grant_labeler();
