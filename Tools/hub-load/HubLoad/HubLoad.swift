/// The load tool’s library (being written).
public enum HubLoad {}
