-- gridcentre live feed: the incidents table a command centre's case system writes to.
-- Safe to run again (creates what is missing, replaces the trigger functions).
--
-- Times without a zone are local (China Standard Time), as in the case system.
-- updated_at is set by the trigger on every insert and update (clock time, so rows written
-- later in a long transaction still move forward); gridcentre reads by it (a watermark,
-- re-reading a short overlap for transactions that commit late) and is woken by NOTIFY on
-- the channel gridcentre_incidents. Writers only INSERT ... ON CONFLICT (id) DO UPDATE.

CREATE TABLE IF NOT EXISTS incidents (
    id            text PRIMARY KEY,          -- 事件编号
    category      text,                      -- 事件类别: 党建引领, 矛盾调处, 民生服务, 社会治安, 城建物业, 综合执法
    source        text,                      -- 来源: 12345热线, 网格员上报, ...
    status        text,                      -- 状态: 已受理, 已派遣, 处置中, 已办结, 不予受理 ... (or English)
    reported_at   timestamp NOT NULL,        -- 上报时间
    deadline      timestamp,                 -- 办结时限
    closed_at     timestamp,                 -- 办结时间
    satisfaction  text,                      -- 满意度: 满意, 基本满意, 不满意
    lon           double precision,          -- WGS84 longitude (经度)
    lat           double precision,          -- WGS84 latitude (纬度)
    grid_code     text,                      -- 网格编码 reported with the case (used when it has no location)
    department    text,                      -- 承办部门
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS incidents_updated_at ON incidents (updated_at, id);

CREATE OR REPLACE FUNCTION gridcentre_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION gridcentre_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridcentre_incidents', '');
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS incidents_touch ON incidents;
CREATE TRIGGER incidents_touch BEFORE INSERT OR UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION gridcentre_touch();

DROP TRIGGER IF EXISTS incidents_notify ON incidents;
CREATE TRIGGER incidents_notify AFTER INSERT OR UPDATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION gridcentre_notify();
