-- Services of the fleet. The name is the natural key; every other table
-- names services by it.
CREATE TABLE services (
    name text PRIMARY KEY,
    team text,
    tier text
);
