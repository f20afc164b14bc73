-- Version 5: phrases a team taught the parser (storage/alias_models.py), kept apart from
-- the catalogue so that a re-import keeps them.
CREATE TABLE IF NOT EXISTS "learnt_aliases" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "team" VARCHAR(64) NOT NULL,
    "kind" VARCHAR(16) NOT NULL,
    "phrase" VARCHAR(128) NOT NULL,
    "target" VARCHAR(64) NOT NULL,
    "label" VARCHAR(128) NOT NULL,
    "learnt_by" VARCHAR(64) NOT NULL,
    "uses" INT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_learnt_alia_team_932fa5" UNIQUE ("team", "kind", "phrase")
) /* A phrase a team's salesperson resolved by picking a candidate or correcting a line. */;
