-- Office sessions with a break (alerts/calendar.py, OfficeHours): many provinces work 07:30–11:30
-- and 13:30–17:00, and the break is not working time. Both NULL: one continuous span.
ALTER TABLE deadline_policy
    ADD COLUMN break_start time,
    ADD COLUMN break_end   time,
    ADD CONSTRAINT deadline_policy_break_check CHECK (
        (break_start IS NULL AND break_end IS NULL)
        OR (office_open < break_start AND break_start < break_end AND break_end < office_close)
    );
