-- certflow schema, version 18: certificates held out of issuance.
--
-- A passing candidate whose certificate the font cannot print (a name with a
-- character outside it) was numbered and signed with the others, then failed
-- to render, and issuance was retried for ever: the plan's other PDFs were
-- never written. Issuance now checks each certificate before it gives a
-- number: one that cannot be drawn is held out here, unnumbered, and the rest
-- are issued. A certificate numbered before this version and never drawn is
-- held with its ``number``. ``positions`` says where in the name the font
-- lacks a glyph (from 1), never the characters. A hold is released once the
-- certificate is issued (``released_at``); the candidates' look-up reads the
-- open ones by name and ID number, as it reads ``certificates``.
CREATE TABLE certificate_holds (
    plan_id           text NOT NULL REFERENCES plans,
    admission_number  text NOT NULL,
    module_code       text NOT NULL,
    name              text NOT NULL,
    id_number         text NOT NULL,
    number            text REFERENCES certificates,
    reason            text NOT NULL,
    positions         integer[] NOT NULL,
    held_at           timestamptz NOT NULL,
    released_at       timestamptz,
    PRIMARY KEY (plan_id, admission_number, module_code)
);
CREATE INDEX certificate_holds_holder ON certificate_holds (id_number)
    WHERE released_at IS NULL;
