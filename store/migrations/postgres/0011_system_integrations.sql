-- Integrations declared in a configuration file are "system" integrations: the file owns them,
-- so the admin APIs refuse to update or delete them. Set by the coordinator each time it
-- applies the file; an integration dropped from the file becomes an ordinary one again.
ALTER TABLE integrations ADD COLUMN system BOOLEAN NOT NULL DEFAULT FALSE;
